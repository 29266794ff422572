"""{{name}}: answers `/hello [NAME]` with a greeting.

Built with componentize-py against the `plaza:plugin` WIT in `wit/`. A Python exception that
escapes an export becomes an `unreachable` trap, so host errors are caught here: a denied
capability is logged, anything else becomes a retryable `HandlerError`.
"""

from wit_world import WitWorld
from wit_world.imports import logging, messaging, types
from componentize_py_types import Err

import logic


class WitWorld(WitWorld):
    def describe(self) -> types.PluginInfo:
        return types.PluginInfo(
            name="{{name}}",
            version="0.1.0",
            description="Answers /hello with a greeting.",
            commands=[types.CommandSpec(name="hello", description="Say hello", usage="/hello [NAME]")],
        )

    def handle_event(self, event: types.Event) -> None:
        kind = event.kind
        if not isinstance(kind, types.EventKind_CommandInvoked) or kind.value.name != "hello":
            return
        cmd = kind.value
        try:
            text = logic.greeting(cmd.args)
            if cmd.message_id is not None:
                messaging.reply(cmd.channel, cmd.message_id, text)
            else:
                messaging.send(cmd.channel, text)
        except Err as e:
            if isinstance(e.value, types.HostError_Denied):
                logging.log(logging.Level.WARN, f"not granted: {e.value.value}")
                return
            raise Err(types.HandlerError(code="host-error", message=str(e.value), retryable=True))

    def review_message(self, request: types.ReviewRequest) -> types.ReviewVerdict:
        return types.ReviewVerdict_Allow()
