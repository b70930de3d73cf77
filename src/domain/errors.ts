/**
 * Errors that carry an HTTP status and a message that says what to fix. The same classes are thrown
 * by the plain functions that the CLI and the tests call; the HTTP layer maps them to one shape:
 * `{ statusCode, error, code, message, field? }`.
 */
export class AppError extends Error {
  readonly statusCode: number;
  readonly code: string;
  readonly field?: string;
  constructor(statusCode: number, code: string, message: string, field?: string) {
    super(message);
    this.statusCode = statusCode;
    this.code = code;
    this.field = field;
  }
}

/** 400: the request is malformed (bad field value, not an ONNX file, invalid manifest). */
export class ValidationError extends AppError {
  constructor(message: string, field?: string) {
    super(400, 'VALIDATION', message, field);
  }
}

/** 404: unknown id. */
export class NotFoundError extends AppError {
  constructor(what: string, id: string) {
    super(404, 'NOT_FOUND', `${what} '${id}' does not exist`);
  }
}

/** 409: the request conflicts with the current state (delete a model a job uses, cancel a finished job). */
export class ConflictError extends AppError {
  constructor(message: string) {
    super(409, 'CONFLICT', message);
  }
}

/** 413: upload too large or too many files. */
export class TooLargeError extends AppError {
  constructor(message: string, field?: string) {
    super(413, 'TOO_LARGE', message, field);
  }
}

/** 422: well-formed but cannot run (wrong modality, unknown layer, empty set). */
export class UnprocessableError extends AppError {
  constructor(message: string, field?: string) {
    super(422, 'UNPROCESSABLE', message, field);
  }
}

/** 401: missing or wrong API key. */
export class UnauthorizedError extends AppError {
  constructor(message = 'this server requires an API key for writes: send Authorization: Bearer <key>') {
    super(401, 'UNAUTHORIZED', message);
  }
}
