// A small single-page-app module written against the types openapi-typescript generates from
// openapi/openapi.json (`make client-check` generates them and compiles this with
// `tsc --strict`). It is the check that the contract says what a browser client needs: the
// pages and their cursors, the PCR an interaction carries, the ETag a read answers and the
// If-Match and Idempotency-Key a change sends. Nothing here runs in CI; it has to compile.
import createClient, { type Middleware } from "openapi-fetch";

import type { components, operations, paths } from "./generated/cartera";

type Schemas = components["schemas"];
export type AccountSummary = Schemas["AccountSummary"];
export type InteractionRead = Schemas["InteractionRead"];
export type PaymentRead = Schemas["PaymentRead"];
export type Problem = Schemas["Problem"];

// The header names an operation's contract declares for a status, without the
// `[name: string]: unknown` catch-all the generator adds: reading a header the contract does
// not declare is a compile error, not a null at run time.
type Declared<T> = { [K in keyof T as string extends K ? never : K]: T[K] };
type ResponseOf<Op extends keyof operations, Status> = operations[Op]["responses"] extends infer R
  ? Status extends keyof R
    ? R[Status]
    : never
  : never;
type HeaderName<Op extends keyof operations, Status> =
  ResponseOf<Op, Status> extends { headers: infer H } ? Extract<keyof Declared<H>, string> : never;

function declaredHeader<Op extends keyof operations, Status extends number>(
  response: Response,
  _operation: Op,
  _status: Status,
  name: HeaderName<Op, Status>,
): string | null {
  return response.headers.get(name);
}

export class CarteraError extends Error {
  constructor(
    readonly status: number,
    readonly problem: Problem | undefined,
  ) {
    super(problem?.title ?? `HTTP ${status}`);
  }
}

function fail(response: Response, problem: unknown): never {
  throw new CarteraError(response.status, problem as Problem | undefined);
}

export function cartera(baseUrl: string, accessToken: () => string, language = "es") {
  const client = createClient<paths>({ baseUrl });
  const auth: Middleware = {
    onRequest({ request }) {
      request.headers.set("Authorization", `Bearer ${accessToken()}`);
      request.headers.set("Accept-Language", language);
      return request;
    },
  };
  client.use(auth);

  type AccountFilter = NonNullable<operations["list_accounts"]["parameters"]["query"]>;

  /** One page of accounts; `cursor` is the previous page's `next_cursor`. */
  async function accountPage(
    filter: AccountFilter,
    cursor?: string,
  ): Promise<Schemas["AccountSummaryPage"]> {
    const { data, error, response } = await client.GET("/api/v1/accounts", {
      params: { query: { ...filter, limit: 100, cursor } },
    });
    if (data === undefined) fail(response, error);
    return data;
  }

  /** Every account matching the filter, page after page, following the keyset cursor. */
  async function* accounts(filter: AccountFilter = {}): AsyncGenerator<AccountSummary> {
    let page = await accountPage(filter);
    yield* page.items;
    while (page.next_cursor !== null) {
      page = await accountPage(filter, page.next_cursor);
      yield* page.items;
    }
  }

  /** A call with its PCR: the debtor's problem, circumstance and what was agreed. */
  async function recordCall(
    accountId: string,
    pcr: Schemas["PcrIn"],
    resultCode: Schemas["InteractionCreate"]["result_code"] = "RPC",
  ): Promise<{ interaction: InteractionRead; location: string | null }> {
    const { data, error, response } = await client.POST(
      "/api/v1/accounts/{account_id}/interactions",
      {
        params: { path: { account_id: accountId } },
        body: {
          channel: "call",
          direction: "outbound",
          party: "debtor",
          result_code: resultCode,
          started_at: new Date().toISOString(),
          pcr,
        },
      },
    );
    if (data === undefined) fail(response, error);
    const location = declaredHeader(response, "record_interaction", 201, "Location");
    return { interaction: data, location };
  }

  /** Reassign an account, refused (412) if someone changed it since it was read. */
  async function reassign(accountId: string, collectorId: string): Promise<string | null> {
    const read = await client.GET("/api/v1/accounts/{account_id}", {
      params: { path: { account_id: accountId } },
    });
    if (read.data === undefined) fail(read.response, read.error);
    const etag = declaredHeader(read.response, "read_account", 200, "ETag");
    if (etag === null) throw new Error("the account was answered without its ETag");
    const changed = await client.PATCH("/api/v1/accounts/{account_id}", {
      params: { path: { account_id: accountId }, header: { "If-Match": etag } },
      body: { assigned_collector_id: collectorId },
    });
    if (changed.data === undefined) fail(changed.response, changed.error);
    // The new version, for the next change.
    return declaredHeader(changed.response, "assign_account", 200, "ETag");
  }

  /** A payment sent with an Idempotency-Key: retrying with the same key replays the first. */
  async function pay(
    body: Schemas["PaymentCreate"],
    idempotencyKey: string = crypto.randomUUID(),
  ): Promise<{ payment: PaymentRead; replayed: boolean; idempotencyKey: string }> {
    const { data, error, response } = await client.POST("/api/v1/payments", {
      params: { header: { "Idempotency-Key": idempotencyKey } },
      body,
    });
    if (data === undefined) fail(response, error);
    const replayed =
      declaredHeader(response, "record_payment", 200, "Idempotent-Replayed") === "true";
    return { payment: data, replayed, idempotencyKey };
  }

  /** Rename a team only if it is still the version read. */
  async function renameTeam(teamId: string, name: string): Promise<Schemas["TeamRead"]> {
    const read = await client.GET("/api/v1/teams/{team_id}", {
      params: { path: { team_id: teamId } },
    });
    if (read.data === undefined) fail(read.response, read.error);
    const etag = declaredHeader(read.response, "read_team", 200, "ETag") ?? undefined;
    const renamed = await client.PATCH("/api/v1/teams/{team_id}", {
      params: { path: { team_id: teamId }, header: { "If-Match": etag } },
      body: { name },
    });
    if (renamed.data === undefined) fail(renamed.response, renamed.error);
    return renamed.data;
  }

  return { accounts, recordCall, reassign, pay, renameTeam };
}

/** What a screen would do: the first overdue accounts, one call each, with its PCR. */
export async function workTheQueue(api: ReturnType<typeof cartera>, max = 10): Promise<number> {
  let recorded = 0;
  for await (const account of api.accounts({ min_dpd: 1, sort: "-dpd" })) {
    if (recorded >= max) break;
    await api.recordCall(account.id, {
      problem_category: "reduced_income",
      problem: "Hours cut at work since March.",
      circumstance: "Two children at school; rent paid first.",
      resolution: "Promised 500.00 on the 15th.",
    });
    recorded += 1;
  }
  return recorded;
}
