"""Reading Bot API parameters the way Telegram does: from a query string, a urlencoded or
multipart form, or a JSON body; values of complex types arrive JSON-serialized in forms."""

from __future__ import annotations

import builtins
import json
from dataclasses import dataclass, field
from typing import Any

from tgshop.sandbox.errors import bad_request


@dataclass
class Upload:
    filename: str
    content_type: str
    data: bytes


@dataclass
class Params:
    values: dict[str, Any]
    uploads: dict[str, Upload] = field(default_factory=dict)

    def has(self, name: builtins.str) -> builtins.bool:
        return self.values.get(name) not in (None, "")

    def raw(self, name: builtins.str) -> Any:
        return self.values.get(name)

    def required(self, name: builtins.str) -> Any:
        if not self.has(name) and name not in self.uploads:
            raise bad_request(
                f"{name} is empty" if name in self.values else f'parameter "{name}" is required'
            )
        return self.values.get(name)

    def str(
        self, name: builtins.str, default: builtins.str | None = None, *, required: bool = False
    ) -> builtins.str | None:
        value = self.required(name) if required else self.values.get(name, default)
        if value is None:
            return default
        if isinstance(value, (dict, list)):
            raise bad_request(f'field "{name}" must be of type String')
        return str(value)

    def int(
        self, name: builtins.str, default: builtins.int | None = None, *, required: bool = False
    ) -> builtins.int | None:
        value = self.required(name) if required else self.values.get(name)
        if value is None or value == "":
            return default
        if isinstance(value, bool):
            raise bad_request(f'field "{name}" must be of type Integer')
        try:
            return int(value)
        except (TypeError, ValueError):
            raise bad_request(f'field "{name}" must be of type Integer') from None

    def bool(self, name: builtins.str, default: builtins.bool = False) -> builtins.bool:
        value = self.values.get(name)
        if value is None or value == "":
            return default
        if isinstance(value, bool):
            return value
        if str(value).lower() in {"true", "1"}:
            return True
        if str(value).lower() in {"false", "0"}:
            return False
        raise bad_request(f'field "{name}" must be of type Boolean')

    def json(self, name: builtins.str, default: Any = None) -> Any:
        """An object or array: native in JSON bodies, JSON-serialized in forms."""
        value = self.values.get(name)
        if value is None or value == "":
            return default
        if isinstance(value, str):
            try:
                return json.loads(value)
            except json.JSONDecodeError:
                raise bad_request(f"can't parse {name} JSON object") from None
        return value

    def chat_id(self, name: builtins.str = "chat_id") -> builtins.int | builtins.str:
        value = self.required(name)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        text = str(value)
        if text.lstrip("-").isdigit():
            return int(text)
        if text.startswith("@"):
            return text
        raise bad_request("chat not found")
