// The plugin's logic, free of host calls so plain Node can test it.

export function greeting(args) {
  return args.length > 0 ? `Hello, ${args.join(' ')}!` : 'Hello!';
}
