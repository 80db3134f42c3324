// Validation of catalog rows: each raw row (a CSV record or a JSON Lines object) becomes a
// product or a review, or a rejection with a stable reason and a message for people.

export interface ProductRow {
  type: 'product';
  line: number;
  sku: string;
  name: string;
  description: string;
  category: string;
  price: string;
  currency: string;
  stock: number;
}

export interface ReviewRow {
  type: 'review';
  line: number;
  sku: string;
  author: string;
  rating: number;
  title: string;
  body: string;
  verified_purchase: boolean;
  helpful_votes: number;
  unhelpful_votes: number;
}

export interface Rejection {
  line: number;
  reason: string;
  message: string;
}

export type CatalogRow = ProductRow | ReviewRow;

class RowError extends Error {
  reason: string;
  constructor(reason: string, message: string) {
    super(message);
    this.reason = reason;
  }
}

type Raw = Record<string, unknown>;

/** Characters of a value that a message quotes: enough to recognise it, while a result stays small. */
const QUOTED_CHARS = 40;

/** A value as a message quotes it: JSON-quoted (NUL and line breaks show as escapes) and cut short. */
export function quote(value: unknown): string {
  const text = String(value);
  return JSON.stringify(text.length > QUOTED_CHARS ? `${text.slice(0, QUOTED_CHARS)}…` : text);
}

/** Text from elsewhere (a parser's message) as a message may carry it: no control characters, cut short. */
export function clip(text: string, max = 200): string {
  const printable = text.replace(/[\u0000-\u001f\u007f]/g, ' ');
  return printable.length > max ? `${printable.slice(0, max)}…` : printable;
}

function text(raw: Raw, field: string, { required = false, max }: { required?: boolean; max: number }): string {
  const value = raw[field];
  if (value === undefined || value === null || value === '') {
    if (required) throw new RowError('missing_field', `${field} is required`);
    return '';
  }
  if (typeof value !== 'string' && typeof value !== 'number') throw new RowError('invalid_field', `${field} must be text`);
  const result = String(value).trim();
  if (required && result === '') throw new RowError('missing_field', `${field} is required`);
  if (result.length > max) throw new RowError('too_long', `${field} is longer than ${max} characters`);
  return result;
}

function integer(raw: Raw, field: string, { min, max, fallback }: { min: number; max: number; fallback?: number }): number {
  const value = raw[field];
  if (value === undefined || value === null || value === '') {
    if (fallback !== undefined) return fallback;
    throw new RowError('missing_field', `${field} is required`);
  }
  const number = typeof value === 'number' ? value : /^\s*-?\d+\s*$/.test(String(value)) ? Number(value) : NaN;
  if (!Number.isInteger(number) || number < min || number > max) {
    throw new RowError(`invalid_${field}`, `${field} must be a whole number from ${min} to ${max}, not ${quote(value)}`);
  }
  return number;
}

function price(raw: Raw): string {
  const value = raw.price;
  if (value === undefined || value === null || value === '') throw new RowError('missing_field', 'price is required');
  const written = String(value).trim();
  if (!/^\d{1,10}(\.\d{1,2})?$/.test(written)) {
    throw new RowError('invalid_price', `price must be a non-negative amount with at most two decimals, not ${quote(written)}`);
  }
  return written;
}

function boolean(raw: Raw, field: string): boolean {
  const value = raw[field];
  if (value === undefined || value === null || value === '') return false;
  if (typeof value === 'boolean') return value;
  const written = String(value).trim().toLowerCase();
  if (['true', 'yes', '1'].includes(written)) return true;
  if (['false', 'no', '0'].includes(written)) return false;
  throw new RowError(`invalid_${field}`, `${field} must be true or false, not ${quote(value)}`);
}

/** Which kind of row this is: its `type` field, or else what its fields say. */
function rowType(raw: Raw): 'product' | 'review' {
  const declared = typeof raw.type === 'string' ? raw.type.trim().toLowerCase() : '';
  if (declared === 'product' || declared === 'review') return declared;
  if (declared !== '') throw new RowError('invalid_type', `type must be "product" or "review", not ${quote(declared)}`);
  if (raw.rating !== undefined && raw.rating !== '') return 'review';
  return 'product';
}

export function validateRow(raw: Raw, line: number): { seller: string; row: CatalogRow } | { rejection: Rejection } {
  try {
    // PostgreSQL's text cannot hold NUL: such a row could only fail the whole file at COPY.
    for (const field in raw) {
      const value = raw[field];
      if (typeof value === 'string' && value.includes('\0')) {
        throw new RowError('contains_nul', `field ${quote(field)} contains a NUL character (\\u0000), which PostgreSQL cannot store`);
      }
    }
    const seller = text(raw, 'seller', { required: true, max: 200 });
    const sku = text(raw, 'sku', { required: true, max: 100 });
    if (rowType(raw) === 'product') {
      const currency = (text(raw, 'currency', { max: 3 }) || 'EUR').toUpperCase();
      if (!/^[A-Z]{3}$/.test(currency)) throw new RowError('invalid_currency', `currency must be a three-letter ISO 4217 code, not ${quote(currency)}`);
      return {
        seller,
        row: {
          type: 'product',
          line,
          sku,
          name: text(raw, 'name', { required: true, max: 300 }),
          description: text(raw, 'description', { max: 20000 }),
          category: text(raw, 'category', { max: 200 }),
          price: price(raw),
          currency,
          stock: integer(raw, 'stock', { min: 0, max: 2_147_483_647, fallback: 0 }),
        },
      };
    }
    return {
      seller,
      row: {
        type: 'review',
        line,
        sku,
        author: text(raw, 'author', { required: true, max: 200 }),
        rating: integer(raw, 'rating', { min: 1, max: 5 }),
        title: text(raw, 'title', { max: 300 }),
        body: text(raw, 'body', { max: 20000 }),
        verified_purchase: boolean(raw, 'verified_purchase'),
        helpful_votes: integer(raw, 'helpful_votes', { min: 0, max: 2_147_483_647, fallback: 0 }),
        unhelpful_votes: integer(raw, 'unhelpful_votes', { min: 0, max: 2_147_483_647, fallback: 0 }),
      },
    };
  } catch (error) {
    if (error instanceof RowError) return { rejection: { line, reason: error.reason, message: error.message } };
    throw error;
  }
}
