"""Pure logic of keyword-responder (no host calls), so it can be tested with plain Python."""

import json
from dataclasses import dataclass, field

CONFIG_KEY = "config"
DEFAULT_COOLDOWN_SECONDS = 300


@dataclass
class Config:
    # Lower-case keyword -> reply, in the admin's order (the first keyword found wins).
    replies: dict = field(default_factory=dict)
    cooldown_ms: int = DEFAULT_COOLDOWN_SECONDS * 1000

    @staticmethod
    def from_entries(entries: dict) -> "Config":
        replies = parse_keywords(entries.get("keywords", ""))
        try:
            seconds = int(entries.get("cooldown-seconds", DEFAULT_COOLDOWN_SECONDS))
        except ValueError:
            seconds = DEFAULT_COOLDOWN_SECONDS
        return Config(replies=replies, cooldown_ms=max(seconds, 0) * 1000)

    def to_json(self) -> str:
        return json.dumps({"replies": list(self.replies.items()), "cooldown_ms": self.cooldown_ms})

    @staticmethod
    def from_json(text: str) -> "Config":
        data = json.loads(text)
        return Config(replies=dict(data["replies"]), cooldown_ms=int(data["cooldown_ms"]))


def parse_keywords(text: str) -> dict:
    """'refund=See the policy; hours=9-17' -> {'refund': 'See the policy', 'hours': '9-17'}.
    Pairs without '=' or with an empty side are skipped."""
    replies = {}
    for pair in text.replace("\n", ";").split(";"):
        keyword, sep, reply = pair.partition("=")
        keyword, reply = keyword.strip().lower(), reply.strip()
        if sep and keyword and reply and keyword not in replies:
            replies[keyword] = reply
    return replies


def match(config: Config, text: str):
    """The first configured keyword that appears in `text` as a whole word (case-insensitive)."""
    # Punctuation becomes spaces, so "Refund?" matches "refund" but "refunded" does not.
    padded = " " + " ".join(normalize(text).split()) + " "
    for keyword in config.replies:
        # A multi-word keyword matches as a phrase.
        if f" {' '.join(normalize(keyword).split())} " in padded:
            return keyword
    return None


def normalize(text: str) -> str:
    return "".join(c if c.isalnum() else " " for c in text.lower())


def cooldown_key(channel: str, keyword: str) -> str:
    return f"cooldown/{channel}/{keyword}"


def cooled_down(last: "bytes | None", now_ms: int, cooldown_ms: int) -> bool:
    if last is None:
        return True
    try:
        return now_ms - int(last.decode()) >= cooldown_ms
    except ValueError:
        return True
