// Pure logic of the leaderboard (no host calls).

const PREFIX = 'points/';

export function pointsKey(member) {
  return PREFIX + member;
}

export function memberOf(key) {
  return key.slice(PREFIX.length);
}

// Points never go below zero (a reaction removed after a reset, for instance).
export function addPoints(current, delta) {
  return Math.max(0, current + delta);
}

// The `top` members with the most points, ties broken by member id so the order is stable.
export function rank(entries, top) {
  return entries
    .filter(([, points]) => points > 0)
    .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
    .slice(0, top);
}

export function formatBoard(ranked) {
  if (ranked.length === 0) return 'No points yet: post and react to get on the board.';
  const lines = ranked.map(([member, points], i) => `${i + 1}. ${member}: ${points}`);
  return ['Leaderboard', ...lines].join('\n');
}
