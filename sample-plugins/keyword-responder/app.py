"""keyword-responder: replies to messages that mention a configured keyword.

Built with componentize-py against `plaza:plugin@0.2.0` (see README.md). A Python exception
escaping an export becomes an `unreachable` trap, so every host error is caught here and
turned into either a logged warning (denied capability) or a `HandlerError` (retryable).
"""

from wit_world import WitWorld
from wit_world.imports import kv, logging, messaging, types
from componentize_py_types import Err

import responder

VERSION = "0.1.0"


class WitWorld(WitWorld):
    def describe(self) -> types.PluginInfo:
        return types.PluginInfo(
            name="keyword-responder",
            version=VERSION,
            description=(
                "Answers messages that mention a keyword with the admin's reply, "
                "at most once per cooldown per channel."
            ),
            commands=[],
        )

    def handle_event(self, event: types.Event) -> None:
        kind = event.kind
        try:
            if isinstance(kind, (types.EventKind_PluginInstalled, types.EventKind_ConfigChanged)):
                save_config(kind.value.config)
            elif isinstance(kind, types.EventKind_MessagePosted):
                on_message(kind.value, event.meta.timestamp_ms)
        except Err as e:
            handle_host_error(e.value)

    def review_message(self, request: types.ReviewRequest) -> types.ReviewVerdict:
        return types.ReviewVerdict_Allow()


def save_config(entries) -> None:
    """Keeps the admin's settings in KV: message events do not carry the config."""
    config = responder.Config.from_entries({e.key: e.value for e in entries})
    kv.set(responder.CONFIG_KEY, config.to_json().encode())
    log(logging.Level.INFO, f"{len(config.replies)} keyword(s), cooldown {config.cooldown_ms // 1000} s")


def load_config() -> "responder.Config":
    raw = kv.get(responder.CONFIG_KEY)
    if raw is None:
        # Installed before the config was stored (or the install event was missed).
        return responder.Config.from_entries({})
    return responder.Config.from_json(raw.decode())


def on_message(message: types.Message, now_ms: int) -> None:
    if not message.text:
        return
    config = load_config()
    keyword = responder.match(config, message.text)
    if keyword is None:
        return
    key = responder.cooldown_key(message.channel, keyword)
    last = kv.get(key)
    if not responder.cooled_down(last, now_ms, config.cooldown_ms):
        log(logging.Level.DEBUG, f"'{keyword}' is cooling down in {message.channel}")
        return
    messaging.reply(message.channel, message.id, config.replies[keyword])
    kv.set(key, str(now_ms).encode())


def handle_host_error(error) -> None:
    """A denied capability is the admin's choice: log it and carry on. Anything else may pass
    if the event is delivered again, so the handler fails and the host retries it."""
    if isinstance(error, types.HostError_Denied):
        log(logging.Level.WARN, f"not granted: {error.value}")
        return
    raise Err(
        types.HandlerError(
            code="host-error",
            message=f"host call failed: {error}",
            retryable=True,
        )
    )


def log(level, text: str) -> None:
    logging.log(level, text)
