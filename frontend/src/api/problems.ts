/** Errors in plain words: the API's RFC 9457 problem+json ``detail``, or what went wrong. */

export class ApiError extends Error {
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message);
  }
}

interface Problem {
  detail?: unknown;
  title?: unknown;
}

/** The message to show for an error body (problem+json or FastAPI's plain ``detail``). */
export function problemMessage(body: unknown, status: number): string {
  if (typeof body === "object" && body !== null) {
    const problem = body as Problem;
    if (typeof problem.detail === "string" && problem.detail) return problem.detail;
    if (typeof problem.title === "string" && problem.title) return problem.title;
  }
  if (typeof body === "string" && body.trim()) return body.trim().slice(0, 300);
  return `HTTP ${status}`;
}

/** Throws an ApiError for a failed openapi-fetch result, else returns its data. */
export function unwrap<T>(result: { data?: T; error?: unknown; response: Response }): T {
  if (result.error !== undefined || !result.response.ok) {
    throw new ApiError(problemMessage(result.error, result.response.status), result.response.status);
  }
  return result.data as T;
}

export function errorText(error: unknown): string {
  if (error instanceof ApiError) return error.message;
  if (error instanceof TypeError) return "network";
  if (error instanceof Error) return error.message;
  return String(error);
}
