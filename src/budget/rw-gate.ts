/**
 * A fair readers-writer gate for async sections: readers run together, a writer runs alone, and turns are taken
 * in order of arrival, so neither side can starve the other. A reader that arrives while a writer waits goes
 * after that writer (with every reader that arrived alongside it); a writer that arrives while readers run waits
 * only for those.
 *
 * The in-process ledger's counter rebuilds are the readers and its batches into the store the writers: a rebuild
 * must not read the queue and the store while a batch is between them, and under a steady flow of settles, or a
 * burst of rebuilds (every tenant's first request after a period rollover), each side must still get its turn.
 */
export class FairRwGate {
  private readers = 0
  private writing = false
  private readonly waiting: Array<{ write: boolean; go: () => void }> = []

  read<T>(section: () => Promise<T>): Promise<T> {
    return this.enter(false, section)
  }

  write<T>(section: () => Promise<T>): Promise<T> {
    return this.enter(true, section)
  }

  private async enter<T>(write: boolean, section: () => Promise<T>): Promise<T> {
    const free = write ? !this.writing && this.readers === 0 : !this.writing
    if (free && this.waiting.length === 0) this.take(write)
    else await new Promise<void>((go) => this.waiting.push({ write, go: () => { this.take(write); go() } }))
    try {
      return await section()
    } finally {
      if (write) this.writing = false
      else this.readers--
      this.next()
    }
  }

  private take(write: boolean): void {
    if (write) this.writing = true
    else this.readers++
  }

  /** Lets in the next writer when nobody is inside, or every reader at the head of the line. */
  private next(): void {
    if (this.writing) return
    const head = this.waiting[0]
    if (!head) return
    if (head.write) {
      if (this.readers === 0) this.waiting.shift()!.go()
      return
    }
    while (this.waiting[0] && !this.waiting[0].write) this.waiting.shift()!.go()
  }
}
