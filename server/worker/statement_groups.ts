// Group commit for the claims and outcomes of a worker's slots. A claim or an outcome of one item
// costs its statement's fixed price (the counting triggers, the plan) many times over its own
// work: with chunks of one item, each of ten slots would pay it twice per item. Here, while
// one statement of a group runs, the requests that arrive for that group wait, and go together
// as its next statement: no wait at all when the database keeps up, larger statements when it
// does not. A large request (a whole chunk of hundreds of items) pays that price a hundredth of
// the way: it runs at once, on its own, in parallel with the others, as it would without groups.

interface Waiter<Request, Answer> {
  request: Request;
  resolve: (answer: Answer) => void;
  reject: (error: unknown) => void;
}

/** Runs requests as one statement, and answers each of them, in their order. */
export type RunTogether<Request, Answer> = (requests: Request[]) => Promise<Answer[]>;

export class StatementGroups<Request, Answer> {
  /** By group: the requests waiting for the next statement, while one of that group runs. */
  private readonly waiting = new Map<string, Array<Waiter<Request, Answer>>>();
  private readonly runTogether: RunTogether<Request, Answer>;

  constructor(runTogether: RunTogether<Request, Answer>) {
    this.runTogether = runTogether;
  }

  /**
   * Runs the request in the next statement of its group, with whatever else arrives meanwhile; a
   * request of no group runs at once, alone.
   */
  async run(group: string | undefined, request: Request): Promise<Answer> {
    if (group === undefined) return (await this.runTogether([request]))[0];
    return new Promise((resolve, reject) => {
      const waiter = { request, resolve, reject };
      const waiting = this.waiting.get(group);
      if (waiting) waiting.push(waiter);
      else void this.runGroup(group, [waiter]);
    });
  }

  private async runGroup(group: string, first: Array<Waiter<Request, Answer>>): Promise<void> {
    for (let next = first; next.length > 0; next = this.waiting.get(group)!) {
      this.waiting.set(group, []);
      await this.settle(next);
    }
    this.waiting.delete(group);
  }

  private async settle(waiters: Array<Waiter<Request, Answer>>): Promise<void> {
    try {
      const answers = await this.runTogether(waiters.map((waiter) => waiter.request));
      waiters.forEach((waiter, index) => waiter.resolve(answers[index]));
    } catch (error) {
      if (waiters.length === 1) {
        waiters[0].reject(error);
        return;
      }
      // One request's value that the database refuses must not fail the others': each runs again
      // on its own, and only its own error reaches it.
      await Promise.all(waiters.map(async (waiter) => {
        try {
          waiter.resolve((await this.runTogether([waiter.request]))[0]);
        } catch (alone) {
          waiter.reject(alone);
        }
      }));
    }
  }
}
