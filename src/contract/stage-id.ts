/**
 * The rule every stage id follows: 1–64 characters, letters, digits, `_` and `-`, starting with
 * a letter or digit. Stage ids end up in job ids (`<runId>:<stageId>:<attempt>`), blob prefixes
 * (`runs/<runId>/<stageId>/`), dotted config paths (`config.<stageId>.field`) and NATS subject
 * tokens, so `:`, `/`, `.` and whitespace are refused to keep all of those unambiguous.
 */
export const STAGE_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;
