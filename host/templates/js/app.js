// {{name}}: answers `/hello [NAME]` with a greeting.
//
// Built with componentize-js against the plaza:plugin WIT in wit/ (see componentize.mjs). Host
// calls that fail throw an Error whose `payload` is the WIT `host-error` variant: a denied
// capability is logged, anything else fails the handler (retryable).

import { log } from 'plaza:plugin/logging@0.2.0';
import * as messaging from 'plaza:plugin/messaging@0.2.0';
import { greeting } from './logic.js';

export function describe() {
  return {
    name: '{{name}}',
    version: '0.1.0',
    description: 'Answers /hello with a greeting.',
    commands: [{ name: 'hello', description: 'Say hello', usage: '/hello [NAME]' }],
  };
}

export function handleEvent(event) {
  const { tag, val: cmd } = event.kind;
  if (tag !== 'command-invoked' || cmd.name !== 'hello') return;
  try {
    const text = greeting(cmd.args);
    if (cmd.messageId) {
      messaging.reply(cmd.channel, cmd.messageId, text);
    } else {
      messaging.send(cmd.channel, text);
    }
  } catch (e) {
    if (e.payload && e.payload.tag === 'denied') {
      log('warn', `not granted: ${e.payload.val}`);
      return;
    }
    throw { code: 'host-error', message: String(e.payload ? e.payload.tag : e), retryable: true };
  }
}

export function reviewMessage(_request) {
  return { tag: 'allow' };
}
