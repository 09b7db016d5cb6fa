"""Files the server serves itself: static directories and zip archives."""
