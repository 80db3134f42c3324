// A deterministic synthetic marketplace for demos, benchmarks and the models that learn from it:
// sellers (some with no products), products with category vocabularies (some with no reviews,
// popularity skewed) and reviews written by a hidden process in which fake reviews are more often
// short, extreme, duplicated, unverified, bursty and from authors with few reviews, with noise on
// every trait. The same seed gives the same content (ids differ per tenant so that one seed can
// fill several tenants); rows are streamed into the three tables with COPY, in the caller's
// transaction if it has one.
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { createRandom, type Random } from '../random.ts';
import { isUuid } from '../uuid.ts';

export interface GenerateMarketplaceOptions {
  tenantId: string;
  sellers: number;
  products: number;
  reviews: number;
  seed: number;
  /** Share of reviews that get a moderation_verdict (the label): 0.3 unless told. */
  labelledShare?: number;
  /** The end of the simulated year: reviews are written in the 365 days before it. */
  epoch?: Date;
}

export interface GenerateMarketplaceResult {
  sellers: number;
  products: number;
  reviews: number;
  /** Reviews with a moderation_verdict. */
  labelled: number;
  /** Reviews whose hidden flag is fake (labelled or not; labels carry ~5% noise on top). */
  fake: number;
  seconds: number;
}

/** Reviews are spread over the year before this, unless `epoch` says otherwise. */
export const DEFAULT_EPOCH = new Date('2025-01-01T00:00:00.000Z');

const DAY = 86_400_000;
const HOUR = 3_600_000;
/** Bytes of COPY text gathered before each write. */
const CHUNK_BYTES = 256 * 1024;

// ---------------------------------------------------------------------------------------------
// Vocabulary. Every string is written into COPY text format as is: none may contain a tab, a
// newline or a backslash (checked once when the module loads).

interface Category {
  name: string;
  code: string;
  /** Price band (EUR). */
  price: [number, number];
  subcategories: Array<[string, string[]]>;
  adjectives: string[];
  materials: string[];
  features: string[];
  praise: string[];
  complaints: string[];
}

const CATEGORIES: Category[] = [
  {
    name: 'kitchen', code: 'KIT', price: [6, 180],
    subcategories: [
      ['knives', ['chef knife', 'paring knife', 'bread knife', 'santoku knife', 'knife set']],
      ['cookware', ['frying pan', 'saucepan', 'dutch oven', 'wok', 'stock pot']],
      ['utensils', ['spatula', 'whisk', 'ladle', 'tongs', 'peeler']],
      ['appliances', ['kettle', 'toaster', 'hand blender', 'coffee grinder']],
    ],
    adjectives: ['forged', 'nonstick', 'stainless', 'heavy-duty', 'professional', 'compact', 'ergonomic', 'hand-finished'],
    materials: ['stainless steel', 'carbon steel', 'cast iron', 'beechwood', 'silicone', 'ceramic', 'enamelled steel'],
    features: [
      'Dishwasher safe.', 'Ergonomic handle for a secure grip.', 'Oven safe up to 220 degrees.', 'Holds a sharp edge.',
      'Works on gas, electric and induction hobs.', 'Heats evenly without hot spots.', 'Easy to clean after cooking.',
      'Balanced weight for everyday prep.', 'Comes with a protective sleeve.', 'Rivets are sealed against food residue.',
    ],
    praise: [
      'It heats evenly and cleans up in seconds.', 'The edge is still razor sharp after weeks of use.',
      'The handle feels solid and well balanced.', 'Nothing sticks to it, even eggs.', 'It looks great hanging in the kitchen.',
      'Cooking with it is a real pleasure.', 'It survived the dishwasher many times without a mark.',
    ],
    complaints: [
      'The coating started to peel after a few weeks.', 'The handle gets hot on the stove.', 'It rusted after the first wash.',
      'The edge dulled quickly.', 'It wobbles on a flat hob.', 'The lid does not fit tightly.',
    ],
  },
  {
    name: 'garden', code: 'GRD', price: [4, 150],
    subcategories: [
      ['tools', ['pruning shears', 'garden trowel', 'hand rake', 'hedge trimmer', 'spade']],
      ['watering', ['garden hose', 'watering can', 'sprinkler', 'hose reel']],
      ['planters', ['planter', 'raised bed', 'seed tray', 'plant pot']],
      ['lighting', ['solar lamp', 'path light', 'light chain']],
    ],
    adjectives: ['weatherproof', 'rust-resistant', 'lightweight', 'sturdy', 'frost-proof', 'expandable', 'solar-powered'],
    materials: ['galvanised steel', 'recycled plastic', 'terracotta', 'ash wood', 'aluminium', 'rubber'],
    features: [
      'Withstands rain, frost and sun.', 'Sharp blades for clean cuts.', 'Drainage holes in the base.',
      'Charges in daylight and glows all evening.', 'Soft grip reduces hand strain.', 'Connects to standard hose fittings.',
      'UV-stable colour that does not fade.', 'Folds flat for storage in the shed.',
    ],
    praise: [
      'It cuts through thick branches with ease.', 'My tomatoes have never looked better.', 'It survived a whole winter outside.',
      'The water pressure is perfect for the flower beds.', 'It lights the path all night.', 'Everything in the garden feels easier now.',
    ],
    complaints: [
      'The hose kinks constantly.', 'The blades went blunt after one season.', 'It cracked in the first frost.',
      'The solar panel barely charges in the shade.', 'The connector leaks at the tap.', 'The plastic feels brittle.',
    ],
  },
  {
    name: 'books', code: 'BOK', price: [6, 45],
    subcategories: [
      ['fiction', ['novel', 'thriller', 'short story collection', 'fantasy saga']],
      ['cooking', ['cookbook', 'baking book', 'vegetarian cookbook']],
      ['children', ['picture book', 'bedtime story book', 'activity book']],
      ['nonfiction', ['history book', 'biography', 'field guide', 'travel guide']],
    ],
    adjectives: ['illustrated', 'award-winning', 'bestselling', 'collected', 'revised', 'annotated', 'first'],
    materials: ['hardcover', 'paperback', 'cloth binding', 'spiral binding', 'large print'],
    features: [
      'Over three hundred pages.', 'Full-colour photographs throughout.', 'Includes an index and glossary.',
      'Printed on acid-free paper.', 'A new foreword by the author.', 'Recipes tested in a home kitchen.',
      'Suitable for readers aged five and up.', 'Maps and timelines in every chapter.',
    ],
    praise: [
      'The story pulled me in from the first chapter.', 'Beautifully printed and well bound.', 'The recipes actually work.',
      'My kids ask for it every night.', 'I learned a lot from it.', 'The characters stayed with me for days.',
    ],
    complaints: [
      'The pacing drags in the middle.', 'Several pages were misprinted.', 'The binding cracked on first read.',
      'The ending felt rushed.', 'Too many typos for a printed book.', 'The photos are small and dark.',
    ],
  },
  {
    name: 'toys', code: 'TOY', price: [5, 90],
    subcategories: [
      ['building', ['building set', 'block set', 'marble run', 'construction kit']],
      ['plush', ['teddy bear', 'plush rabbit', 'plush dinosaur', 'plush unicorn']],
      ['puzzles', ['jigsaw puzzle', 'puzzle cube', 'wooden puzzle']],
      ['outdoor', ['kite', 'water blaster', 'flying disc', 'bubble machine']],
    ],
    adjectives: ['colourful', 'educational', 'soft', 'classic', 'giant', 'magnetic', 'interactive'],
    materials: ['sustainable wood', 'BPA-free plastic', 'organic cotton', 'recycled cardboard', 'felt'],
    features: [
      'Safety tested for children over three.', 'Encourages creativity and fine motor skills.', 'Machine washable.',
      'Pieces store in the included box.', 'Compatible with other sets of the range.', 'Bright colours that do not fade.',
      'Rounded edges for little hands.', 'No batteries required.',
    ],
    praise: [
      'My kids play with it every day.', 'It kept the whole family busy for hours.', 'Still in one piece after months of rough play.',
      'It is soft and very cuddly.', 'The pieces fit together perfectly.', 'A great gift for a birthday.',
    ],
    complaints: [
      'A piece was missing from the box.', 'The seams came apart after a week.', 'It broke on the first day.',
      'The paint chips easily.', 'It is much smaller than it looks.', 'The instructions are confusing.',
    ],
  },
  {
    name: 'audio', code: 'AUD', price: [10, 400],
    subcategories: [
      ['headphones', ['over-ear headphones', 'wireless earbuds', 'gaming headset', 'studio headphones']],
      ['speakers', ['bluetooth speaker', 'bookshelf speaker', 'soundbar', 'smart speaker']],
      ['turntables', ['turntable', 'phono preamp', 'record cleaner']],
      ['cables', ['audio cable', 'headphone adapter', 'optical cable']],
    ],
    adjectives: ['wireless', 'noise-cancelling', 'high-fidelity', 'portable', 'studio-grade', 'waterproof', 'compact'],
    materials: ['brushed aluminium', 'walnut veneer', 'matte plastic', 'braided nylon', 'memory foam'],
    features: [
      'Up to thirty hours of battery life.', 'Active noise cancellation.', 'Bluetooth with multipoint pairing.',
      'Deep bass and clear highs.', 'Gold-plated connectors.', 'Foldable design with a travel case.',
      'Built-in microphone for calls.', 'USB-C fast charging.',
    ],
    praise: [
      'The sound is crisp and the bass is deep.', 'Battery life is as advertised.', 'Noise cancelling works great on the train.',
      'Pairing took seconds.', 'They are comfortable even after hours.', 'Calls sound clear on both ends.',
    ],
    complaints: [
      'The left side stopped working after a month.', 'Bluetooth keeps dropping out.', 'The bass is muddy.',
      'They hurt my ears after an hour.', 'Battery life is half of what they claim.', 'There is a constant hiss.',
    ],
  },
  {
    name: 'outdoor', code: 'OUT', price: [8, 350],
    subcategories: [
      ['camping', ['tent', 'sleeping bag', 'camping stove', 'sleeping mat']],
      ['hiking', ['hiking backpack', 'trekking poles', 'headlamp', 'water bottle']],
      ['cycling', ['bike light', 'bike lock', 'saddle bag', 'bike pump']],
    ],
    adjectives: ['ultralight', 'waterproof', 'insulated', 'packable', 'rugged', 'four-season', 'reflective'],
    materials: ['ripstop nylon', 'aluminium alloy', 'down fill', 'hardened steel', 'recycled polyester'],
    features: [
      'Packs down small for the trail.', 'Sealed seams keep the rain out.', 'Rated down to minus five degrees.',
      'Sets up in under five minutes.', 'Adjustable straps for a snug fit.', 'Reflective details for night visibility.',
      'Weighs less than a kilogram.', 'Rechargeable over USB.',
    ],
    praise: [
      'It kept me dry through two days of rain.', 'It is light enough that I forget I carry it.', 'Set up was quick even in the dark.',
      'Warm and comfortable on cold nights.', 'It survived a week in the mountains.', 'Bright enough for night rides.',
    ],
    complaints: [
      'The zip broke on the second trip.', 'It leaked at the seams.', 'Much heavier than listed.',
      'The straps dig into the shoulders.', 'The battery died after an hour.', 'The lock was easy to pry open.',
    ],
  },
  {
    name: 'beauty', code: 'BTY', price: [4, 120],
    subcategories: [
      ['skincare', ['face cream', 'serum', 'cleanser', 'sunscreen', 'eye cream']],
      ['hair', ['shampoo', 'hair dryer', 'hair brush', 'conditioner']],
      ['fragrance', ['eau de parfum', 'body mist', 'scented candle']],
    ],
    adjectives: ['hydrating', 'fragrance-free', 'organic', 'gentle', 'vegan', 'dermatologist-tested', 'lightweight'],
    materials: ['aloe vera', 'shea butter', 'argan oil', 'hyaluronic acid', 'vitamin C', 'green tea extract'],
    features: [
      'Suitable for sensitive skin.', 'Absorbs quickly without a greasy feel.', 'Not tested on animals.',
      'Free from parabens and sulphates.', 'Recyclable glass bottle.', 'Lasts all day.', 'Travel-size option available.',
    ],
    praise: [
      'My skin feels soft and calm.', 'The scent is lovely and subtle.', 'My hair has never been this shiny.',
      'A little goes a long way.', 'It absorbs quickly.', 'It dries my hair in half the time.',
    ],
    complaints: [
      'It gave me a rash.', 'The smell is overpowering.', 'The pump stopped working halfway.',
      'It left my skin greasy.', 'It did nothing for my hair.', 'It feels cheap and watery.',
    ],
  },
  {
    name: 'office', code: 'OFF', price: [2, 300],
    subcategories: [
      ['stationery', ['notebook', 'fountain pen', 'gel pen set', 'planner']],
      ['desk', ['desk lamp', 'monitor stand', 'desk organizer', 'cable tray']],
      ['seating', ['office chair', 'seat cushion', 'footrest']],
    ],
    adjectives: ['ergonomic', 'adjustable', 'minimalist', 'dotted', 'refillable', 'height-adjustable', 'premium'],
    materials: ['bamboo', 'recycled paper', 'powder-coated steel', 'mesh fabric', 'faux leather'],
    features: [
      'Fountain pen friendly paper.', 'Adjustable height and angle.', 'Lumbar support for long days.',
      'Dimmable light with three colour temperatures.', 'Keeps cables out of sight.', 'Lies flat when open.',
      'Assembly takes ten minutes.', 'Refills available separately.',
    ],
    praise: [
      'My back pain is gone since I switched.', 'The paper takes ink without bleeding.', 'My desk finally looks tidy.',
      'The light is soft and easy on the eyes.', 'It writes smoothly every time.', 'Sturdy and easy to assemble.',
    ],
    complaints: [
      'The ink bleeds through the pages.', 'The chair squeaks constantly.', 'A screw was missing.',
      'The lamp flickers.', 'The stand wobbles with a heavy monitor.', 'The pen leaked in my bag.',
    ],
  },
  {
    name: 'pets', code: 'PET', price: [3, 160],
    subcategories: [
      ['dogs', ['dog leash', 'dog bed', 'chew toy', 'dog harness']],
      ['cats', ['cat tree', 'scratching post', 'cat toy', 'litter box']],
      ['aquarium', ['aquarium filter', 'fish tank', 'aquarium heater']],
    ],
    adjectives: ['durable', 'washable', 'orthopedic', 'chew-proof', 'quiet', 'padded', 'non-toxic'],
    materials: ['nylon webbing', 'natural rubber', 'sisal rope', 'memory foam', 'tempered glass'],
    features: [
      'Machine washable cover.', 'Non-toxic and safe to chew.', 'Quiet motor that will not disturb fish.',
      'Padded for comfort on long walks.', 'Stable base that does not tip.', 'Easy to assemble without tools.',
      'Suitable for large breeds.',
    ],
    praise: [
      'My dog loves it.', 'The cat sleeps on it every day.', 'The water has never been clearer.',
      'It survived a very determined chewer.', 'Walks are much calmer now.', 'Our puppy took to it immediately.',
    ],
    complaints: [
      'My dog destroyed it in an hour.', 'The cat ignores it completely.', 'The filter is very noisy.',
      'The stitching came undone.', 'It smells of chemicals.', 'The clip snapped on a walk.',
    ],
  },
];

const SHOP_WORDS = [
  'Copper', 'Oak', 'Willow', 'Iron', 'Maple', 'Linen', 'Stone', 'Harbor', 'Fern', 'Birch', 'Cedar', 'Ember', 'Slate',
  'Thistle', 'Juniper', 'Clover', 'Marble', 'Pine', 'Saffron', 'Indigo', 'Amber', 'Hazel', 'Flint', 'Moss', 'Wren',
  'Finch', 'Heron', 'Otter', 'Fox', 'Badger', 'Lantern', 'Anchor', 'Meadow', 'Quill', 'Cobalt', 'Sparrow',
];
const SERIES = ['Pro', 'Classic', 'Lite', 'Max', 'Mini', 'XL', 'Plus', 'Essential', 'Studio', 'Go'];
const REJECTION_REASONS = [
  'Images do not show the product.', 'Description is missing required safety information.',
  'Listing duplicates an existing product.', 'Prohibited item for this marketplace.', 'Price looks like a placeholder.',
  'Category does not match the product.', 'Brand use not authorised by the rights holder.',
];
const PEOPLE = ['sister', 'brother', 'dad', 'mum', 'partner', 'neighbour', 'son', 'daughter', 'friend', 'colleague', 'grandmother'];

/** A product noun with its article forms (`a pair of` for plurals such as headphones). */
interface Noun {
  bare: string;
  a: string;
  this: string;
}
const nounForms = (bare: string): Noun => {
  const plural = /[^s]s$/.test(bare);
  return { bare, a: plural ? `a pair of ${bare}` : /^[aeiou]/.test(bare) ? `an ${bare}` : `a ${bare}`, this: plural ? `these ${bare}` : `this ${bare}` };
};
type Template = (noun: Noun, r: Random) => string;
const n = (r: Random, max: number) => 2 + Math.floor(r() * (max - 1));
const OPENERS: Template[] = [
  (x, r) => `I bought ${x.this} ${n(r, 10)} weeks ago.`,
  (x, r) => `Ordered the ${x.bare} as a gift for my ${PEOPLE[Math.floor(r() * PEOPLE.length)]}.`,
  (x, r) => `I have been using ${x.this} almost daily for ${n(r, 11)} months.`,
  (x) => `Replaced my old one with ${x.this}.`,
  (x) => `Got ${x.this} on sale.`,
  (x) => `This is the second time I have bought ${x.a} from this shop.`,
  (x) => `Took a while to decide between ${x.this} and a pricier one.`,
  () => 'Bought it after reading the reviews here.',
  (x, r) => `We have had the ${x.bare} for about ${n(r, 8)} months now.`,
  (x) => `I needed ${x.a} for a small flat.`,
  () => 'First time buying from this seller.',
  (x, r) => `My ${PEOPLE[Math.floor(r() * PEOPLE.length)]} recommended ${x.this}.`,
];
const SHIPPING: Template[] = [
  (_, r) => `Delivery took ${n(r, 9)} days.`,
  () => 'It arrived well packed.',
  () => 'The box was dented but the contents were fine.',
  () => 'Shipping was slower than promised.',
  () => 'It came a day earlier than expected.',
  () => 'The packaging was excessive for such a small item.',
];
const GENERIC_GOOD: Template[] = [
  () => 'Build quality is better than expected.',
  () => 'The colour matches the pictures.',
  () => 'Instructions were clear.',
  (x) => `For ${x.a} at this price it is very good.`,
  () => 'It feels like it will last for years.',
];
const GENERIC_BAD: Template[] = [
  () => 'It is a bit smaller than the photos suggest.',
  () => 'The finish is rough in places.',
  (x) => `I expected more from ${x.a} at this price.`,
  () => 'Customer service took a week to answer.',
  () => 'It does not look like the pictures.',
];
const CLOSERS: Template[][] = [
  [() => 'Returning it.', () => 'Avoid.', () => 'Complete waste of money.', (x) => `Look elsewhere for ${x.a}.`],
  [() => 'I expected more.', () => 'Would not buy again.', () => 'Hard to recommend.', () => 'Disappointed overall.'],
  [() => 'It does the job, nothing more.', () => 'Decent for the price.', () => 'Not sure I would buy it again.', () => 'Average.'],
  [() => 'Good value overall.', () => 'A few small flaws but I am happy.', () => 'Recommended.', (x) => `Solid ${x.bare} for the money.`],
  [() => 'Would buy again.', (x) => `Highly recommended if you need ${x.a}.`, () => 'Very happy with it.', () => 'Cannot fault it.'],
];
const GENUINE_TITLES: Template[][] = [
  [() => 'Broke quickly', () => 'Do not recommend', (x) => `Poor quality ${x.bare}`, () => 'Very disappointed'],
  [() => 'Disappointing', () => 'Not great', (x) => `Mediocre ${x.bare}`, () => 'Expected better'],
  [() => 'Okay', (x) => `Average ${x.bare}`, () => 'Mixed feelings', () => 'It is fine'],
  [(x) => `Very good ${x.bare}`, () => 'Solid choice', () => 'Good, with minor issues', () => 'Happy with it'],
  [(x) => `Excellent ${x.bare}`, () => 'Love it', () => 'Exactly what I needed', () => 'Great quality'],
];
/** Short genuine reviews: noise on length and on duplication. */
const GENUINE_SHORT = [
  'Works fine.', 'Good value.', 'Does the job.', 'As described.', 'Okay for the price.', 'Arrived quickly, works well.',
  'Nice.', 'Not bad.', 'Bit flimsy.', 'Love it!', 'Great!', 'Fine.', 'Broke after a week.', 'Too small.', 'Happy with it.',
  'Exactly as pictured.', 'Would buy again.', 'Meh.', 'Good quality.', 'Not as expected.',
];
/** The small pool fake reviews reuse. */
const FAKE_POSITIVE = [
  'Best purchase ever!!! Highly recommend!', 'Amazing product, five stars!', 'Perfect!!! Buy it now!',
  'Absolutely love it, best quality!', 'Excellent seller, excellent product!!!', 'Five stars, would buy again and again!',
  'Exceeded all my expectations!!!', 'Super fast shipping, amazing quality!', 'Wow just wow. Perfect in every way.',
  'I love this so much!!!', 'Top quality, cheap price, recommend 100%!', 'Best on the market, do not hesitate!',
  'Great great great!!!', 'Must buy! Changed my life!', '10/10 would recommend to everyone!',
  'Perfect gift, everyone loved it!', 'Incredible value, better than expensive brands!', 'Highly recommended seller!!!',
  'Just perfect. Five stars.', 'Love love love it!', 'Great!', 'Love it!',
];
const FAKE_NEGATIVE = [
  'Terrible!!! Do not buy!', 'Worst product ever, total scam!', 'Broke on day one. Scam seller!', 'Fake product, avoid!!!',
  'Zero stars if I could!', 'Complete garbage, stay away!', 'Cheap junk, waste of money!!!', 'Do not trust this seller!',
];
const FAKE_POSITIVE_TEMPLATES: Template[] = [
  (x) => `Best ${x.bare} ever!!!`, (x) => `Love ${x.this}, five stars!`, (x) => `Amazing ${x.bare}, buy it!`,
  (x) => `Perfect ${x.bare}, highly recommend!`, (x) => `So happy with ${x.this}!!!`,
];
const FAKE_NEGATIVE_TEMPLATES: Template[] = [(x) => `Worst ${x.bare} ever!`, (x) => `Total scam, do not buy ${x.this}!`, (x) => `Do not buy ${x.this}!!!`];
const FAKE_TITLES_POSITIVE = ['Amazing!!!', 'Best ever', 'Must buy', 'Five stars', 'Perfect', 'Wow', 'Highly recommend', 'Love it', 'BEST'];
const FAKE_TITLES_NEGATIVE = ['Scam', 'Terrible', 'Avoid!!!', 'Worst ever', 'Fake'];

function assertCopySafe(value: unknown, path: string): void {
  if (typeof value === 'string') {
    if (/[\t\n\r\\]/.test(value)) throw new Error(`demo vocabulary ${path} contains a tab, newline or backslash`);
  } else if (typeof value === 'function') {
    assertCopySafe((value as Template)(nounForms('x'), () => 0.5), path);
  } else if (Array.isArray(value)) {
    value.forEach((item, i) => assertCopySafe(item, `${path}[${i}]`));
  } else if (value && typeof value === 'object') {
    for (const [key, item] of Object.entries(value)) assertCopySafe(item, `${path}.${key}`);
  }
}
assertCopySafe(
  { CATEGORIES, SHOP_WORDS, SERIES, REJECTION_REASONS, OPENERS, SHIPPING, GENERIC_GOOD, GENERIC_BAD, CLOSERS, GENUINE_TITLES,
    GENUINE_SHORT, FAKE_POSITIVE, FAKE_NEGATIVE, FAKE_POSITIVE_TEMPLATES, FAKE_NEGATIVE_TEMPLATES, FAKE_TITLES_POSITIVE, FAKE_TITLES_NEGATIVE },
  'vocabulary',
);

const titleCase = (text: string) => text.replace(/(^|[\s-])([a-z])/g, (_, before: string, letter: string) => before + letter.toUpperCase());
const capitalise = (text: string) => text.charAt(0).toUpperCase() + text.slice(1);

/** Subcategories flattened, each with its category and precomputed title-case words. */
interface Sub {
  category: Category;
  categoryIndex: number;
  path: string;
  /** The path as words, e.g. `kitchen knives`. */
  words: string;
  nouns: string[];
  nounForms: Noun[];
  nounTitles: string[];
  adjectiveTitles: string[];
  materialTitles: string[];
}
const SUBS: Sub[] = [];
const SUBS_OF_CATEGORY: number[][] = CATEGORIES.map(() => []);
CATEGORIES.forEach((category, categoryIndex) => {
  for (const [name, nouns] of category.subcategories) {
    SUBS_OF_CATEGORY[categoryIndex].push(SUBS.length);
    SUBS.push({
      category, categoryIndex, path: `${category.name}/${name}`, words: `${category.name} ${name}`, nouns, nounForms: nouns.map(nounForms),
      nounTitles: nouns.map(titleCase), adjectiveTitles: category.adjectives.map(titleCase), materialTitles: category.materials.map(titleCase),
    });
  }
});

// ---------------------------------------------------------------------------------------------
// Small random helpers.

const pick = <T>(r: Random, items: readonly T[]): T => items[Math.floor(r() * items.length)];
/** Approximately standard normal (sum of four uniforms): cheap, bounded at ±3.5. */
const gauss = (r: Random) => (r() + r() + r() + r() - 2) * 1.7320508075688772;
/** Exponential with the given mean. */
const exponential = (r: Random, mean: number) => -Math.log(1 - r()) * mean;
const clamp = (x: number, lo: number, hi: number) => (x < lo ? lo : x > hi ? hi : x);

const HEX: string[] = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));
const hex32 = (x: number) => HEX[x >>> 24] + HEX[(x >>> 16) & 255] + HEX[(x >>> 8) & 255] + HEX[x & 255];
const hex16 = (x: number) => HEX[(x >>> 8) & 255] + HEX[x & 255];
const u32 = (r: Random) => (r() * 4294967296) >>> 0; // each draw is an exact 32-bit value scaled into [0, 1)
/** A random 47-bit start for a table's id sequence. */
const idBase = (r: Random) => (u32(r) & 0x7fff) * 4294967296 + u32(r);
/**
 * The `index`th id of a sequence: 48 bits of `base + index` then 74 random bits (an RFC 9562
 * version 8 uuid laid out like version 7). Ids sort in generation order, so the primary key and
 * the indexes that lead with the id grow at their right edge instead of splitting pages all over.
 */
function sequentialUuid(r: Random, base: number, index: number): string {
  const prefix = base + index;
  const high = Math.floor(prefix / 65536) >>> 0;
  const b = ((prefix % 65536) * 65536 + ((u32(r) & 0x0fff) | 0x8000)) >>> 0;
  const c = ((u32(r) & 0x3fffffff) | 0x80000000) >>> 0;
  const d = u32(r);
  return `${hex32(high)}-${hex16(b >>> 16)}-${hex16(b)}-${hex16(c >>> 16)}-${hex16(c)}${hex32(d)}`;
}

/** FNV-1a of the text, mixed with the seed: the id stream differs per tenant, the content does not. */
function idSeed(tenantId: string, seed: number): number {
  let h = 0x811c9dc5 ^ (Math.floor(seed) >>> 0);
  for (let i = 0; i < tenantId.length; i++) h = Math.imul(h ^ tenantId.charCodeAt(i), 0x01000193);
  return (h >>> 0) + 4294967296 * ((Math.floor(seed / 4294967296) ^ 0x5bd1e995) >>> 0);
}

/**
 * Splits `total` into integer counts proportional to `weights` (systematic sampling with one
 * random offset): the counts sum to exactly `total`, a zero weight always gets zero, and when
 * there is enough to go round (at least two per positive weight) every positive weight gets at
 * least one, so that only the zero weights end up empty.
 */
function allocate(r: Random, weights: Float64Array, total: number): Int32Array {
  const counts = new Int32Array(weights.length);
  let sum = 0;
  let positive = 0;
  for (let i = 0; i < weights.length; i++) {
    sum += weights[i];
    if (weights[i] > 0) positive++;
  }
  if (total === 0 || sum === 0) return counts;
  const floor = total >= 2 * positive ? 1 : 0;
  const spread = total - floor * positive;
  const offset = r();
  let cumulative = 0;
  let previous = 0;
  for (let i = 0; i < weights.length; i++) {
    if (weights[i] === 0) continue;
    cumulative += weights[i];
    const next = Math.min(spread, Math.floor((cumulative / sum) * spread + offset));
    counts[i] = floor + next - previous;
    previous = next;
  }
  // Rounding at the very end: give any shortfall to the heaviest weight.
  if (previous < spread) {
    let heaviest = 0;
    for (let i = 1; i < weights.length; i++) if (weights[i] > weights[heaviest]) heaviest = i;
    counts[heaviest] += spread - previous;
  }
  return counts;
}

/** Streams COPY text (chunks of lines) into a table, with backpressure. */
async function copyInto(client: pg.ClientBase, table: string, columns: string[], chunks: Iterable<Buffer>): Promise<void> {
  const copy = client.query(copyFrom(`copy app_public.${table} (${columns.join(', ')}) from stdin`));
  await pipeline(Readable.from(chunks, { highWaterMark: 2 }), copy);
}

/**
 * Gathers lines into buffers of about CHUNK_BYTES: each line is encoded on its own (encoding one
 * big concatenated string is several times slower), and a full buffer is handed back to be sent.
 */
function lineBuffer() {
  let buffer = Buffer.allocUnsafe(CHUNK_BYTES);
  let used = 0;
  return {
    add(line: string): Buffer | undefined {
      let full: Buffer | undefined;
      if (used + 3 * line.length > buffer.length) {
        if (used > 0) full = buffer.subarray(0, used);
        buffer = Buffer.allocUnsafe(Math.max(CHUNK_BYTES, 3 * line.length));
        used = 0;
      }
      used += buffer.write(line, used);
      return full;
    },
    rest(): Buffer | undefined {
      return used > 0 ? buffer.subarray(0, used) : undefined;
    },
  };
}

const TWO_DIGITS = Array.from({ length: 100 }, (_, i) => String(i).padStart(2, '0'));
const THREE_DIGITS = Array.from({ length: 1000 }, (_, i) => String(i).padStart(3, '0'));
/** Formats integer epoch milliseconds like toISOString, with the date part cached per day. */
function isoFormatter(): (ms: number) => string {
  const days = new Map<number, string>();
  return (ms) => {
    const day = Math.floor(ms / DAY);
    let date = days.get(day);
    if (date === undefined) {
      date = new Date(day * DAY).toISOString().slice(0, 11);
      days.set(day, date);
    }
    let rest = ms - day * DAY;
    const hours = Math.floor(rest / HOUR);
    rest -= hours * HOUR;
    const minutes = Math.floor(rest / 60_000);
    rest -= minutes * 60_000;
    const seconds = Math.floor(rest / 1000);
    return `${date}${TWO_DIGITS[hours]}:${TWO_DIGITS[minutes]}:${TWO_DIGITS[seconds]}.${THREE_DIGITS[rest - seconds * 1000]}Z`;
  };
}

// ---------------------------------------------------------------------------------------------

/**
 * Generates a synthetic marketplace into `tenantId` with `client` (which must be allowed to insert
 * into app_public.sellers, products and reviews, e.g. the owner). Does not begin or commit: run it
 * in a transaction if it should be all or nothing. Seller names are `Shop <n> — …`, so a tenant
 * gets one generated marketplace (a second run into the same tenant violates unique (tenant_id, name)).
 */
export async function generateMarketplace(client: pg.ClientBase, options: GenerateMarketplaceOptions): Promise<GenerateMarketplaceResult> {
  const started = performance.now();
  const { tenantId, seed } = options;
  const sellerCount = options.sellers;
  const productCount = options.products;
  const reviewCount = options.reviews;
  const labelledShare = options.labelledShare ?? 0.3;
  const epoch = (options.epoch ?? DEFAULT_EPOCH).getTime();
  if (!isUuid(tenantId)) throw new RangeError(`tenantId must be a uuid, not ${JSON.stringify(tenantId)}`);
  for (const [name, value] of [['sellers', sellerCount], ['products', productCount], ['reviews', reviewCount]] as const) {
    if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`${name} must be a non-negative integer, not ${value}`);
  }
  if (!Number.isFinite(seed)) throw new RangeError(`seed must be a finite number, not ${seed}`);
  if (!(labelledShare >= 0 && labelledShare <= 1)) throw new RangeError(`labelledShare must be between 0 and 1, not ${labelledShare}`);
  if (!Number.isFinite(epoch)) throw new RangeError('epoch must be a valid date');
  if (productCount > 0 && sellerCount === 0) throw new RangeError('products need at least one seller');
  if (reviewCount > 0 && productCount === 0) throw new RangeError('reviews need at least one product');

  const r = createRandom(seed);
  const ids = createRandom(idSeed(tenantId.toLowerCase(), seed));
  const tenant = tenantId.toLowerCase();
  const yearStart = epoch - 365 * DAY;
  const iso = isoFormatter();

  // --- Sellers: shadiness (hidden), main category, created_at, weight in the product allocation.
  const sellerIds: string[] = new Array(sellerCount);
  const shadiness = new Float64Array(sellerCount);
  const sellerCategory = new Uint8Array(sellerCount);
  const sellerCreated = new Float64Array(sellerCount);
  const sellerWeight = new Float64Array(sellerCount);
  const sellerBase = idBase(ids);
  function* sellerChunks(): Generator<Buffer> {
    const lines = lineBuffer();
    for (let i = 0; i < sellerCount; i++) {
      const id = sequentialUuid(ids, sellerBase, i);
      sellerIds[i] = id;
      // Most sellers are honest-ish; ~6% are very shady.
      shadiness[i] = r() < 0.06 ? 0.65 + 0.35 * r() : 0.35 * r() * r();
      sellerCategory[i] = Math.floor(r() * CATEGORIES.length);
      const created = epoch - Math.floor((60 + r() * 1000) * DAY);
      sellerCreated[i] = created;
      // ~5% sellers have no products; the others are skewed (a few big shops).
      sellerWeight[i] = r() < 0.05 ? 0 : Math.exp(0.8 * gauss(r));
      const first = Math.floor(r() * SHOP_WORDS.length);
      const second = (first + 1 + Math.floor(r() * (SHOP_WORDS.length - 1))) % SHOP_WORDS.length;
      const name = `Shop ${i + 1} — ${SHOP_WORDS[first]} & ${SHOP_WORDS[second]}`;
      const domain = r() < 0.8 ? `shop${i + 1}.example` : '\\N';
      const full = lines.add(`${id}\t${tenant}\t${name}\t${domain}\t${iso(created)}\n`);
      if (full) yield full;
    }
    const rest = lines.rest();
    if (rest) yield rest;
  }
  await copyInto(client, 'sellers', ['id', 'tenant_id', 'name', 'domain', 'created_at'], sellerChunks());
  if (productCount > 0) {
    let any = false;
    for (let i = 0; i < sellerCount && !any; i++) any = sellerWeight[i] > 0;
    if (!any) sellerWeight[0] = 1;
  }
  const productsPerSeller = allocate(r, sellerWeight, productCount);

  // --- Products, seller by seller: category vocabulary, price band, status, popularity.
  const productIds: string[] = new Array(productCount);
  const productSeller = new Int32Array(productCount);
  const productSub = new Uint16Array(productCount);
  const productNoun = new Uint8Array(productCount);
  const productStart = new Float64Array(productCount);
  const productQuality = new Float32Array(productCount);
  const productWeight = new Float64Array(productCount);
  const productBase = idBase(ids);
  function* productChunks(): Generator<Buffer> {
    const lines = lineBuffer();
    let p = 0;
    for (let s = 0; s < sellerCount; s++) {
      const shady = shadiness[s];
      for (let k = 0; k < productsPerSeller[s]; k++, p++) {
        const id = sequentialUuid(ids, productBase, p);
        productIds[p] = id;
        productSeller[p] = s;
        const categoryIndex = r() < 0.75 ? sellerCategory[s] : Math.floor(r() * CATEGORIES.length);
        const subIndex = pick(r, SUBS_OF_CATEGORY[categoryIndex]);
        const sub = SUBS[subIndex];
        const category = sub.category;
        const noun = Math.floor(r() * sub.nouns.length);
        productSub[p] = subIndex;
        productNoun[p] = noun;
        const adjective = Math.floor(r() * category.adjectives.length);
        const material = Math.floor(r() * category.materials.length);
        let name = `${sub.adjectiveTitles[adjective]} ${sub.materialTitles[material]} ${sub.nounTitles[noun]}`;
        if (r() < 0.4) name += ` ${pick(r, SERIES)}`;
        const features = category.features;
        const f1 = Math.floor(r() * features.length);
        const f2 = (f1 + 1 + Math.floor(r() * (features.length - 1))) % features.length;
        let description = `${capitalise(category.adjectives[adjective])} ${sub.nouns[noun]}, ${category.materials[material]}. ${features[f1]} ${features[f2]}`;
        if (r() < 0.5) {
          let f3 = (f2 + 1) % features.length;
          if (f3 === f1) f3 = (f3 + 1) % features.length;
          description += ` ${features[f3]}`;
        }
        description += ` Part of our ${sub.words} range.`;
        const [low, high] = category.price;
        const raw = low * Math.exp(r() * Math.log(high / low));
        const price = raw >= 5 ? Math.max(0, Math.round(raw) - 0.01) : Math.round(raw * 100) / 100;
        const stock = r() < 0.08 ? 0 : Math.floor(Math.exp(r() * Math.log(500)));
        const statusDraw = r();
        const rejectedShare = 0.03 + 0.1 * shady;
        const status = statusDraw < rejectedShare ? 'rejected' : statusDraw < rejectedShare + 0.1 ? 'pending' : 'approved';
        const reason = status === 'rejected' ? pick(r, REJECTION_REASONS) : '\\N';
        const created = sellerCreated[s] + Math.floor(r() * Math.max(DAY, epoch - 14 * DAY - sellerCreated[s]));
        productStart[p] = Math.max(created + HOUR, yearStart);
        productQuality[p] = clamp(0.68 - 0.35 * shady + 0.15 * gauss(r), 0.02, 0.98);
        // ~10% of products get no reviews; the rest are skewed (a few bestsellers), shady sellers
        // and approved products get more.
        productWeight[p] = r() < 0.1 ? 0 : Math.exp(1.4 * gauss(r)) * (status === 'approved' ? 1 : 0.25) * (1 + 1.5 * shady);
        const at = iso(created);
        const full = lines.add(`${id}\t${tenant}\t${sellerIds[s]}\t${category.code}-${String(k + 1).padStart(6, '0')}\t${name}\t${description}\t${sub.path}\t${price.toFixed(2)}\t${stock}\t${status}\t${reason}\t${at}\t${at}\n`);
        if (full) yield full;
      }
    }
    const rest = lines.rest();
    if (rest) yield rest;
  }
  await copyInto(
    client, 'products',
    ['id', 'tenant_id', 'seller_id', 'sku', 'name', 'description', 'category', 'price', 'stock', 'status', 'rejection_reason', 'created_at', 'updated_at'],
    productChunks(),
  );
  if (reviewCount > 0) {
    let any = false;
    for (let i = 0; i < productCount && !any; i++) any = productWeight[i] > 0;
    if (!any) productWeight[0] = 1;
  }
  const reviewsPerProduct = allocate(r, productWeight, reviewCount);

  // --- Authors: a skewed pool of regulars (some write dozens of reviews) and a flat pool of casual
  // accounts with one or two reviews each, which fake reviews mostly come from. Names are a shuffled
  // numbering, so the pool an author comes from does not show in the name.
  const fakeChance = (shady: number) => 0.04 + 0.7 * shady * shady;
  let expectedFake = 0;
  let maxPerProduct = 0;
  for (let p = 0; p < productCount; p++) {
    expectedFake += reviewsPerProduct[p] * fakeChance(shadiness[productSeller[p]]);
    if (reviewsPerProduct[p] > maxPerProduct) maxPerProduct = reviewsPerProduct[p];
  }
  const expectedGenuine = reviewCount - expectedFake;
  const casualPool = Math.max(1, Math.ceil((0.8 * expectedFake + 0.08 * expectedGenuine) / 1.4));
  const regularPool = Math.max(1, Math.ceil(expectedGenuine / 4), 2 * maxPerProduct - casualPool);
  const authorCount = regularPool + casualPool;
  const authorNumber = new Int32Array(authorCount);
  for (let i = 0; i < authorCount; i++) authorNumber[i] = i;
  for (let i = authorCount - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1));
    const t = authorNumber[i];
    authorNumber[i] = authorNumber[j];
    authorNumber[j] = t;
  }
  /** The product (+1) each author last reviewed: keeps (product, author) unique without a set. */
  const lastProduct = new Int32Array(authorCount);
  const pickAuthor = (p: number, fake: boolean): number => {
    for (let attempt = 0; attempt < 8; attempt++) {
      const casual = fake ? r() < 0.8 : r() < 0.08;
      const a = casual
        ? regularPool + Math.floor(r() * casualPool)
        : Math.floor(regularPool * (fake ? r() : Math.pow(r(), 1.6)));
      if (lastProduct[a] !== p + 1) return a;
    }
    // A crowded product: the next free author after a random one.
    let a = Math.floor(r() * authorCount);
    while (lastProduct[a] === p + 1) a = (a + 1) % authorCount;
    return a;
  };

  // --- Reviews, product by product.
  let labelled = 0;
  let fakeTotal = 0;
  const reviewBase = idBase(ids);
  function* reviewChunks(): Generator<Buffer> {
    const lines = lineBuffer();
    let written = 0;
    for (let p = 0; p < productCount; p++) {
      const count = reviewsPerProduct[p];
      if (count === 0) continue;
      const productId = productIds[p];
      const shady = shadiness[productSeller[p]];
      const chance = fakeChance(shady);
      const negativeFake = 0.4 * (1 - shady) ** 3;
      const sub = SUBS[productSub[p]];
      const category = sub.category;
      const noun = sub.nounForms[productNoun[p]];
      const quality = productQuality[p];
      const start = productStart[p];
      const span = Math.max(HOUR, epoch - start);
      let burstLeft = 0;
      let burstCenter = 0;
      for (let j = 0; j < count; j++) {
        const fake = r() < chance;
        const author = pickAuthor(p, fake);
        lastProduct[author] = p + 1;
        let at: number;
        let rating: number;
        let title: string;
        let body: string;
        let verified: boolean;
        if (fake) {
          fakeTotal++;
          // Bursts: several fakes on the same product within a day.
          if (burstLeft > 0) {
            burstLeft--;
            at = burstCenter + (r() - 0.5) * 16 * HOUR;
          } else if (r() < 0.75) {
            burstCenter = start + r() * span;
            burstLeft = 1 + Math.floor(r() * 5);
            at = burstCenter + (r() - 0.5) * 16 * HOUR;
          } else {
            at = start + r() * span;
          }
          const negative = r() < negativeFake;
          rating = negative ? (r() < 0.9 ? 1 : 2) : r() < 0.88 ? 5 : 4;
          const style = r();
          if (style < 0.55) body = negative ? pick(r, FAKE_NEGATIVE) : pick(r, FAKE_POSITIVE);
          else if (style < 0.85) body = pick(r, negative ? FAKE_NEGATIVE_TEMPLATES : FAKE_POSITIVE_TEMPLATES)(noun, r);
          else body = genuineBody(r, category, noun, rating, 2);
          title = r() < 0.05 ? '' : negative ? pick(r, FAKE_TITLES_NEGATIVE) : pick(r, FAKE_TITLES_POSITIVE);
          verified = r() < (style < 0.85 ? 0.25 : 0.45);
        } else {
          at = start + r() * span;
          rating = Math.round(clamp(1 + 4 * quality + 0.9 * gauss(r), 1, 5));
          body = r() < 0.1 ? pick(r, GENUINE_SHORT) : genuineBody(r, category, noun, rating, 4);
          title = r() < 0.12 ? '' : pick(r, GENUINE_TITLES[rating - 1])(noun, r);
          verified = r() < 0.85;
        }
        at = Math.floor(clamp(at, start, epoch - 1000));
        const helpful = Math.floor(exponential(r, fake ? 0.3 : 0.5 + body.length / 120));
        const unhelpful = Math.floor(exponential(r, fake ? 1 : 0.4));
        let verdict = '\\N';
        if (r() < labelledShare) {
          labelled++;
          verdict = fake !== r() < 0.05 ? 'fake' : 'genuine';
        }
        const when = iso(at);
        const full = lines.add(`${sequentialUuid(ids, reviewBase, written++)}\t${tenant}\t${productId}\tuser${1000 + authorNumber[author]}\t${rating}\t${title}\t${body}\t${verified ? 't' : 'f'}\t${helpful}\t${unhelpful}\t${verdict}\t${when}\t${when}\n`);
        if (full) yield full;
      }
    }
    const rest = lines.rest();
    if (rest) yield rest;
  }
  await copyInto(
    client, 'reviews',
    ['id', 'tenant_id', 'product_id', 'author', 'rating', 'title', 'body', 'verified_purchase', 'helpful_votes', 'unhelpful_votes', 'moderation_verdict', 'created_at', 'updated_at'],
    reviewChunks(),
  );

  return {
    sellers: sellerCount,
    products: productCount,
    reviews: reviewCount,
    labelled,
    fake: fakeTotal,
    seconds: (performance.now() - started) / 1000,
  };
}

/** A review in the shopper's words: opener, 1..maxMiddle remarks leaning with the rating, closer. */
function genuineBody(r: Random, category: Category, noun: Noun, rating: number, maxMiddle: number): string {
  let body = pick(r, OPENERS)(noun, r);
  const middle = 1 + Math.floor(r() * maxMiddle);
  const positive = (rating - 1) / 4;
  for (let i = 0; i < middle; i++) {
    const good = r() < 0.1 + 0.8 * positive;
    const specific = r() < 0.7;
    body += ' ' + (specific ? pick(r, good ? category.praise : category.complaints) : pick(r, good ? GENERIC_GOOD : GENERIC_BAD)(noun, r));
  }
  if (r() < 0.3) body += ' ' + pick(r, SHIPPING)(noun, r);
  return body + ' ' + pick(r, CLOSERS[rating - 1])(noun, r);
}
