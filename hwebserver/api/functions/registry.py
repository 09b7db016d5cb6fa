"""The registered API functions, per port, and what each needs to be called."""

from __future__ import annotations

import inspect
import threading
from collections.abc import Callable, Mapping
from typing import Any

from ..errors import APIError
from ..routing import ALL_PORTS, is_async_callable


class CallError(Exception):
    """A call the client got wrong: answered with `status` and a JSON error message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class ApiFunction:
    """One registered function, and how its arguments are bound."""

    __slots__ = (
        "arg_types",
        "function",
        "is_async",
        "name",
        "plain_index",
        "plain_names",
        "plain_required",
        "ports",
        "return_binary",
        "signature",
        "var_keyword",
    )

    def __init__(
        self,
        name: str,
        function: Callable[..., Any],
        return_binary: bool,
        arg_types: Mapping[str, Callable[[Any], Any]] | None,
        ports: tuple[str, ...],
    ) -> None:
        self.name = name
        self.function = function
        self.return_binary = bool(return_binary)
        self.ports = ports
        self.is_async = is_async_callable(function)
        # The signature of what the server calls: a wrapper made with functools.wraps, often
        # `(request, **kwargs)`, is bound as itself, not as the function it hides.
        self.signature = inspect.signature(function, follow_wrapped=False)
        self.var_keyword = next(
            (p.name for p in self.signature.parameters.values() if p.kind is p.VAR_KEYWORD), None
        )
        self.arg_types = dict(arg_types or {})
        self._check_arg_types()
        # The common signature, f(request, a, b=1), is bound without inspect (a hot path).
        parameters = list(self.signature.parameters.values())
        plain = bool(parameters) and all(p.kind is p.POSITIONAL_OR_KEYWORD for p in parameters)
        self.plain_names = tuple(p.name for p in parameters[1:]) if plain else None
        self.plain_index = {name: i for i, name in enumerate(self.plain_names or ())}
        self.plain_required = sum(1 for p in parameters[1:] if p.default is p.empty)

    def __repr__(self) -> str:
        return f"<ApiFunction {self.name}>"

    def _check_arg_types(self) -> None:
        parameters = self.signature.parameters
        for arg_name, converter in self.arg_types.items():
            if not callable(converter):
                raise TypeError(f"arg_types[{arg_name!r}] of {self.name} is not callable")
            if arg_name not in parameters and self.var_keyword is None:
                raise ValueError(f"arg_types names {arg_name!r}, not an argument of {self.name}")

    def bind(
        self, request: Any, args: list[Any], kwargs: dict[str, Any]
    ) -> tuple[tuple[Any, ...], dict[str, Any]]:
        """The call's (args, kwargs), checked against the signature and converted by arg_types."""
        bound = self._bind_plain(request, args, kwargs)
        if bound is not None:
            return bound
        try:
            arguments = self.signature.bind(request, *args, **kwargs)
        except TypeError as exc:
            message = f"arguments do not match {self.name}{self.signature}: {exc}"
            raise CallError(400, message) from None
        for arg_name, converter in self.arg_types.items():
            if arg_name in arguments.arguments and arg_name != self.var_keyword:
                arguments.arguments[arg_name] = self._convert(
                    arg_name, converter, arguments.arguments[arg_name]
                )
            elif self.var_keyword is not None:
                extra = arguments.arguments.get(self.var_keyword, {})
                if arg_name in extra:
                    extra[arg_name] = self._convert(arg_name, converter, extra[arg_name])
        return arguments.args, arguments.kwargs

    def _bind_plain(
        self, request: Any, args: list[Any], kwargs: dict[str, Any]
    ) -> tuple[tuple[Any, ...], dict[str, Any]] | None:
        """Bind a call to f(request, a, b=1, ...) by hand; None: let inspect bind it (or say
        why it does not fit)."""
        names = self.plain_names
        given = len(args)
        if names is None or given > len(names):
            return None
        index = self.plain_index
        for key in kwargs:
            position = index.get(key)
            if position is None or position < given:
                return None
        for position in range(given, self.plain_required):
            if names[position] not in kwargs:
                return None
        if self.arg_types:
            args = list(args)
            for arg_name, converter in self.arg_types.items():
                position = index.get(arg_name, -1)
                if 0 <= position < given:
                    args[position] = self._convert(arg_name, converter, args[position])
                elif arg_name in kwargs:
                    kwargs[arg_name] = self._convert(arg_name, converter, kwargs[arg_name])
        return (request, *args), kwargs

    def _convert(self, arg_name: str, converter: Callable[[Any], Any], value: Any) -> Any:
        try:
            return converter(value)
        except (CallError, APIError):
            raise
        except Exception as exc:
            kind = getattr(converter, "__name__", repr(converter))
            raise CallError(
                400,
                f"argument {arg_name!r} of {self.name}: cannot convert {value!r} with {kind}: {exc}",
            ) from None


class ApiRegistry:
    """Functions by port name, then by name. Registration may happen at any time, from any
    thread (e.g. after run(in_background=True)); lookups are two dict probes."""

    def __init__(self) -> None:
        self._by_port: dict[str, dict[str, ApiFunction]] = {}
        self._lock = threading.Lock()

    def add(self, function: ApiFunction) -> None:
        with self._lock:
            for port_name in function.ports:
                # Copy on write: lookups on the event loop never see a dict being changed.
                table = dict(self._by_port.get(port_name, {}))
                table[function.name] = function
                self._by_port[port_name] = table

    def lookup(self, port_name: str, name: str) -> ApiFunction | None:
        table = self._by_port.get(port_name)
        function = None if table is None else table.get(name)
        if function is None:  # registered with ports=[-1]: on every port
            every = self._by_port.get(ALL_PORTS)
            function = None if every is None else every.get(name)
        return function

    def registered(self) -> list[ApiFunction]:
        """Every function once, whatever the ports it was registered on."""
        unique = {id(f): f for table in self._by_port.values() for f in table.values()}
        return list(unique.values())

    def names(self, port_name: str) -> list[str]:
        return sorted(self._by_port.get(port_name, {}))

    def clear(self) -> None:
        with self._lock:
            self._by_port.clear()

    def snapshot(self) -> dict[str, dict[str, ApiFunction]]:
        """The functions as they are now, for restore() (hwebserver.testing)."""
        with self._lock:
            return {port_name: dict(table) for port_name, table in self._by_port.items()}

    def restore(self, state: dict[str, dict[str, ApiFunction]]) -> None:
        """The functions of a snapshot(), and nothing registered since."""
        with self._lock:
            self._by_port = {port_name: dict(table) for port_name, table in state.items()}


api_functions = ApiRegistry()
