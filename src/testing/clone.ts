/**
 * Deep copy used on every value entering or leaving an in-memory adapter, so a caller mutating
 * what it passed in or got back can never change stored state (a real database can't be
 * mutated through a returned row either). structuredClone keeps Dates as Dates.
 */
export const deepCopy = <T>(value: T): T => structuredClone(value);
