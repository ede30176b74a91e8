// Shared by the scripts of this directory: assertions, timeouts and the output protocol that
// jstest_test.go reads ("ok <case>", "FAIL <case>: <reason>", "skip <case>: <reason>", then
// "N passed, N failed, N skipped").

// CaseError is an assertion failure: its message is the whole reason.
export class CaseError extends Error {}

export function check(cond, msg) {
  if (!cond) throw new CaseError(msg);
}

export function eq(got, want, what) {
  const g = JSON.stringify(got);
  const w = JSON.stringify(want);
  check(g === w, `${what}: got ${g}, want ${w}`);
}

// withTimeout rejects with a CaseError when p takes longer than ms; where(), when given, says how
// far the case got.
export async function withTimeout(p, ms, what, where) {
  let timer;
  const t = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new CaseError(`${what}: timed out after ${ms} ms${where ? ` (at: ${where()})` : ""}`)), ms);
  });
  try {
    return await Promise.race([p, t]);
  } finally {
    clearTimeout(timer);
  }
}

// CLOSE_LIMIT_MS bounds client.close(). The SDK's close waits for the emulator's answer to each
// detach, end and close, and never settles when the socket ends before the answer arrives
// (rhea-promise drops its listeners and timer on "disconnected"): a close that does not settle is
// an emulator defect that would hang an application's shutdown, so it fails the case.
export const CLOSE_LIMIT_MS = 5_000;

// closeClient closes a ServiceBusClient, failing with a CaseError when close() does not settle
// within CLOSE_LIMIT_MS or rejects.
export async function closeClient(client, what = "client.close()") {
  try {
    await withTimeout(client.close(), CLOSE_LIMIT_MS, `${what} never settled`);
  } catch (e) {
    if (e instanceof CaseError) throw e;
    throw new CaseError(`${what} failed: ${reason(e)}`);
  }
}

// reason turns what a case threw into one line.
export function reason(e) {
  const r = e instanceof CaseError ? e.message : `${e?.name ?? "Error"}${e?.code ? ` [${e.code}]` : ""}: ${e?.message ?? e}`;
  return r.replaceAll("\n", " ");
}

// runAll runs the cases concurrently (each is isolated by its own entities), printing each line as
// its case ends so that a hang still leaves the finished ones, then the summary. run(c) returns
// { status: "ok" | "FAIL" | "skip", reason }. The result is the exit status.
export async function runAll(cases, run) {
  const count = { ok: 0, FAIL: 0, skip: 0 };
  await Promise.all(
    cases.map(async (c) => {
      const r = await run(c);
      count[r.status]++;
      console.log(r.status === "ok" ? `ok ${c.name}` : `${r.status} ${c.name}: ${r.reason}`);
    }),
  );
  console.log(`${count.ok} passed, ${count.FAIL} failed, ${count.skip} skipped`);
  return count.FAIL > 0 ? 1 : 0;
}
