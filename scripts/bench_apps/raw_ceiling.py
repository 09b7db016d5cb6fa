"""The practical ceiling in Python: uvloop + httptools answering a fixed response."""

import asyncio
import sys

import httptools
import uvloop

RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n\r\nHello, world!"


class Fixed(asyncio.Protocol):
    def connection_made(self, transport):
        self.transport = transport
        self.parser = httptools.HttpRequestParser(self)

    def data_received(self, data):
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            self.transport.close()

    def on_message_complete(self):
        self.transport.write(RESPONSE)


async def main(port: int) -> None:
    loop = asyncio.get_running_loop()
    await loop.create_server(Fixed, "127.0.0.1", port, backlog=2048)
    await asyncio.Event().wait()


if __name__ == "__main__":
    uvloop.run(main(int(sys.argv[1])))
