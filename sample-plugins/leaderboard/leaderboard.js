// leaderboard: points for messages and for reactions received, kept in KV per member.
// Built with componentize-js against plaza:plugin@0.2.0 (see README.md).
//
// Host calls that fail throw an Error whose `payload` is the WIT `host-error` variant
// ({ tag: 'denied', val: 'messages:send' }, ...). A denied capability is the admin's choice: it
// is logged and the handler still succeeds. Anything else fails the handler (throwing a
// `handler-error` record) so the host can deliver the event again.

import { log } from 'plaza:plugin/logging@0.2.0';
import * as kv from 'plaza:plugin/kv@0.2.0';
import * as messaging from 'plaza:plugin/messaging@0.2.0';
import { pointsKey, memberOf, addPoints, rank, formatBoard } from './points.js';

export const MESSAGE_POINTS = 1;
export const REACTION_POINTS = 2;
const DEFAULT_TOP = 5;
const MAX_TOP = 20;

export function describe() {
  return {
    name: 'leaderboard',
    version: '0.1.0',
    description: 'Points for posting and for reactions received; /leaderboard shows the top members, /points your own.',
    commands: [
      { name: 'leaderboard', description: 'Show the members with the most points', usage: '/leaderboard [N]' },
      { name: 'points', description: 'Show your own points', usage: '/points' },
    ],
  };
}

export function handleEvent(event) {
  const { tag, val } = event.kind;
  try {
    switch (tag) {
      case 'message-posted':
        credit(val.author, MESSAGE_POINTS);
        break;
      case 'reaction-added':
      case 'reaction-removed': {
        // Reacting to your own message earns nothing; unknown authors cannot be credited.
        const author = val.messageAuthor;
        if (author && author !== val.member) {
          credit(author, tag === 'reaction-added' ? REACTION_POINTS : -REACTION_POINTS);
        }
        break;
      }
      case 'command-invoked':
        command(val);
        break;
    }
  } catch (e) {
    handleHostError(e);
  }
}

export function reviewMessage(_request) {
  return { tag: 'allow' };
}

function credit(member, delta) {
  const key = pointsKey(member);
  kv.set(key, encode(String(addPoints(decode(kv.get(key)), delta))));
}

function command(cmd) {
  let text;
  if (cmd.name === 'points') {
    text = `You have ${decode(kv.get(pointsKey(cmd.member)))} point(s).`;
  } else if (cmd.name === 'leaderboard') {
    const top = parseTop(cmd.args[0]);
    if (top === null) {
      text = `Usage: /leaderboard [N], with N from 1 to ${MAX_TOP}`;
    } else {
      text = formatBoard(rank(allPoints(), top));
    }
  } else {
    return;
  }
  if (cmd.messageId) {
    messaging.reply(cmd.channel, cmd.messageId, text);
  } else {
    messaging.send(cmd.channel, text);
  }
}

function parseTop(arg) {
  if (arg === undefined) return DEFAULT_TOP;
  const n = Number.parseInt(arg, 10);
  return String(n) === arg && n >= 1 && n <= MAX_TOP ? n : null;
}

// Every member's points, reading the keys a page at a time.
function allPoints() {
  const entries = [];
  let after;
  for (;;) {
    const keys = kv.listKeys('points/', after, 100);
    for (const key of keys) {
      entries.push([memberOf(key), decode(kv.get(key))]);
    }
    if (keys.length < 100) return entries;
    after = keys[keys.length - 1];
  }
}

function handleHostError(e) {
  const error = e && e.payload;
  if (error && error.tag === 'denied') {
    log('warn', `not granted: ${error.val}`);
    return;
  }
  // A `handler-error` makes the host discard this event's effects and retry it.
  throw {
    code: 'host-error',
    message: `host call failed: ${error ? JSON.stringify(error, bigints) : String(e)}`,
    retryable: true,
  };
}

function bigints(_key, value) {
  return typeof value === 'bigint' ? value.toString() : value;
}

function encode(text) {
  return new TextEncoder().encode(text);
}

// Points stored as decimal text; a missing or unreadable value counts as 0.
function decode(bytes) {
  if (bytes === undefined || bytes === null) return 0;
  const n = Number.parseInt(new TextDecoder().decode(bytes), 10);
  return Number.isFinite(n) ? n : 0;
}
