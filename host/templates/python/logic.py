"""The plugin's logic, free of host calls so plain Python can test it."""


def greeting(args: list) -> str:
    return f"Hello, {' '.join(args)}!" if args else "Hello!"
