// Parsing a fetched page with htmlparser2's streaming parser (no DOM is built): its title, meta
// description, canonical URL and language, and the products it lists in JSON-LD.
import { TextDecoder } from 'node:util';
import { Parser } from 'htmlparser2';
import { PermanentItemError } from '../worker/item_task.ts';

/** A product as record_scraped_page takes it; validated here (the SKU may be left to the database). */
export interface ScrapedProduct {
  sku: string | null;
  /** The product's own page, absolute; a product without SKU is known by it. */
  url: string | null;
  name: string;
  description: string | null;
  category: string | null;
  /** A non-negative decimal, as text, so that no digit is lost on the way. */
  price: string;
  currency: string;
}

export interface ParsedPage {
  title: string | null;
  metaDescription: string | null;
  canonicalUrl: string | null;
  language: string | null;
  products: ScrapedProduct[];
  /** JSON-LD Products without a name or a priced offer. */
  productsSkipped: number;
  /** JSON-LD blocks that are not valid JSON. */
  jsonLdErrors: number;
}

const MAX_PRODUCTS = 1000;
const MAX_JSON_LD_DEPTH = 12;

function collapse(text: string | undefined | null): string | null {
  const collapsed = text?.replace(/\s+/g, ' ').trim();
  return collapsed ? collapsed : null;
}

function httpUrl(href: string | undefined | null, base: URL): string | null {
  if (!href?.trim()) return null;
  try {
    const url = new URL(href.trim(), base);
    return url.protocol === 'http:' || url.protocol === 'https:' ? url.href : null;
  } catch {
    return null;
  }
}

/** The charset the response names, else a BOM, else one a `<meta>` names early on, else UTF-8. */
export function decodeBody(body: Buffer, contentType: string | null): string {
  let label = /charset\s*=\s*["']?([\w.:-]+)/i.exec(contentType ?? '')?.[1];
  if (!label) {
    if (body[0] === 0xfe && body[1] === 0xff) label = 'utf-16be';
    else if (body[0] === 0xff && body[1] === 0xfe) label = 'utf-16le';
  }
  // (The HTML standard looks at the first 1024 bytes for it.)
  label ??= /<meta[^>]+charset\s*=\s*["']?([\w.:-]+)/i.exec(body.subarray(0, 1024).toString('latin1'))?.[1];
  let decoder: TextDecoder;
  try {
    decoder = new TextDecoder(label ?? 'utf-8');
  } catch {
    decoder = new TextDecoder('utf-8');
  }
  return decoder.decode(body);
}

/**
 * Parses a page; `pageUrl` (after redirects) resolves relative URLs. Throws PermanentItemError for
 * content that is not HTML at all (binary data, or text without a single element): the forgiving
 * parser reads anything, so that is where "bad HTML" begins.
 */
export function parsePage(html: string, pageUrl: URL, contentLanguage: string | null = null): ParsedPage {
  if (html.slice(0, 8192).includes('\u0000')) {
    throw new PermanentItemError('not an HTML document: binary content');
  }
  let elements = 0;
  let base = pageUrl;
  let svgDepth = 0;
  let title: string | null = null;
  let titleText: string | null = null;
  let metaDescription: string | null = null;
  let canonicalUrl: string | null = null;
  let htmlLang: string | null = null;
  let metaLanguage: string | null = null;
  let script: string | null = null;
  const jsonLd: string[] = [];

  const parser = new Parser(
    {
      onopentag(name, attribs, isImplied) {
        if (!isImplied) elements++;
        switch (name) {
          case 'html':
            htmlLang ??= collapse(attribs.lang ?? attribs['xml:lang']);
            break;
          case 'svg':
            svgDepth++;
            break;
          case 'title':
            if (svgDepth === 0 && title === null && titleText === null) titleText = '';
            break;
          case 'base':
            if (attribs.href) base = new URL(httpUrl(attribs.href, pageUrl) ?? base);
            break;
          case 'meta': {
            const metaName = attribs.name?.trim().toLowerCase();
            const httpEquiv = attribs['http-equiv']?.trim().toLowerCase();
            if (metaName === 'description') metaDescription ??= collapse(attribs.content);
            if (httpEquiv === 'content-language') metaLanguage ??= collapse(attribs.content?.split(',')[0]);
            break;
          }
          case 'link': {
            const rels = (attribs.rel ?? '').toLowerCase().split(/\s+/);
            if (rels.includes('canonical')) canonicalUrl ??= httpUrl(attribs.href, base);
            break;
          }
          case 'script':
            if (attribs.type?.split(';')[0].trim().toLowerCase() === 'application/ld+json') script = '';
            break;
        }
      },
      ontext(text) {
        if (titleText !== null) titleText += text;
        if (script !== null) script += text;
      },
      onclosetag(name) {
        if (name === 'svg' && svgDepth > 0) svgDepth--;
        if (name === 'title' && titleText !== null) {
          title = collapse(titleText) ?? '';
          titleText = null;
        }
        if (name === 'script' && script !== null) {
          jsonLd.push(script);
          script = null;
        }
      },
    },
    { decodeEntities: true },
  );
  parser.write(html);
  parser.end();

  if (elements === 0) throw new PermanentItemError('not an HTML document: no HTML elements found');

  const products: ScrapedProduct[] = [];
  let productsSkipped = 0;
  let jsonLdErrors = 0;
  const seen = new Set<object>();
  const walk = (node: unknown, depth: number): void => {
    if (depth > MAX_JSON_LD_DEPTH || products.length >= MAX_PRODUCTS || typeof node !== 'object' || node === null || seen.has(node)) return;
    seen.add(node);
    if (Array.isArray(node)) {
      for (const element of node) walk(element, depth + 1);
      return;
    }
    const record = node as Record<string, unknown>;
    if (isProduct(record)) {
      const product = toProduct(record, base);
      if (product) products.push(product);
      else productsSkipped++;
      // A product's other properties (related products, reviews) are not its seller's listing;
      // its variants are.
      walk(record.hasVariant, depth + 1);
      return;
    }
    // @graph, ItemList elements, a page's mainEntity, a ProductGroup's variants, ...
    for (const value of Object.values(record)) walk(value, depth + 1);
  };
  for (const block of jsonLd) {
    const text = block.trim().replace(/^<!--/, '').replace(/-->$/, '').trim();
    if (text === '') continue;
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      jsonLdErrors++;
      continue;
    }
    walk(value, 0);
  }

  return {
    title: title || null,
    metaDescription,
    canonicalUrl,
    language: htmlLang ?? metaLanguage ?? collapse(contentLanguage?.split(',')[0]),
    products,
    productsSkipped,
    jsonLdErrors,
  };
}

function types(record: Record<string, unknown>): string[] {
  const type = record['@type'];
  const list = Array.isArray(type) ? type : [type];
  return list.filter((t): t is string => typeof t === 'string').map((t) => t.replace(/^.*[/#:]/, ''));
}

function isProduct(record: Record<string, unknown>): boolean {
  return types(record).some((type) => type === 'Product' || type === 'IndividualProduct' || type === 'ProductModel');
}

function text(value: unknown): string | null {
  if (typeof value === 'string') return collapse(value);
  if (typeof value === 'number' && Number.isFinite(value)) return String(value);
  return null;
}

function asList(value: unknown): Record<string, unknown>[] {
  const list = Array.isArray(value) ? value : [value];
  return list.filter((v): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v));
}

/** A price as a plain non-negative decimal that numeric(12, 2) holds, or null. */
function price(value: unknown): string | null {
  let decimal: string | null = null;
  if (typeof value === 'number' && Number.isFinite(value) && value >= 0) decimal = value.toFixed(2);
  else if (typeof value === 'string' && /^\s*\d+(\.\d+)?\s*$/.test(value)) decimal = value.trim();
  return decimal !== null && Number(decimal) < 1e10 ? decimal : null;
}

/** The first offer (an Offer, an AggregateOffer, or a list of them) with a price and a currency. */
function offerPrice(offers: unknown): { price: string; currency: string } | null {
  for (const offer of asList(offers)) {
    const specs = asList(offer.priceSpecification);
    const currency = [offer.priceCurrency, ...specs.map((s) => s.priceCurrency)].find(
      (c): c is string => typeof c === 'string' && /^[A-Za-z]{3}$/.test(c.trim()),
    );
    const amount = [offer.price, offer.lowPrice, ...specs.map((s) => s.price)].map(price).find((p) => p !== null);
    if (currency && amount) return { price: amount, currency: currency.trim().toUpperCase() };
    // An AggregateOffer may carry its offers inside.
    const inner = offer.offers === undefined ? null : offerPrice(offer.offers);
    if (inner) return inner;
  }
  return null;
}

function toProduct(record: Record<string, unknown>, base: URL): ScrapedProduct | null {
  const name = text(record.name);
  const offer = offerPrice(record.offers);
  if (!name || !offer) return null;
  return {
    sku: text(record.sku) ?? text(record.productID),
    url: typeof record.url === 'string' ? httpUrl(record.url, base) : null,
    name,
    description: typeof record.description === 'string' ? record.description.trim() || null : null,
    category: typeof record.category === 'string' ? collapse(record.category) : null,
    ...offer,
  };
}
