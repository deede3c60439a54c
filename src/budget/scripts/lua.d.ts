// Lua sources are imported as text (`with { type: 'text' }`) so `bun build --compile` embeds them.
declare module '*.lua' {
  const source: string
  export default source
}
