// `import x from './001_init.sql' with { type: 'text' }` yields the file's text (and `bun build
// --compile` embeds it); bun-types declares this for *.txt but not *.sql.
declare module '*.sql' {
  const text: string
  export default text
}
