/**
 * The XML element value that the parser produces and the server builds
 * replies with.
 *
 * Names are local names with the namespace resolved into {@linkcode Element.ns}
 * (`<stream:features>` becomes name `features`, ns
 * `http://etherx.jabber.org/streams`). Attribute keys are local names for
 * unprefixed attributes and `prefix:local` otherwise (`xml:lang`); namespace
 * declarations are not attributes.
 *
 * @module
 */

/** A child node: an element or decoded character data. */
export type XmlNode = Element | string;

/** Attribute values accepted by {@linkcode el}; `undefined` attributes are left out. */
export type AttrInput = Record<string, string | undefined>;

/**
 * An XML element with a resolved namespace.
 *
 * @example Usage
 * ```ts
 * import { Element } from "./element.ts";
 * import assert from "node:assert/strict";
 *
 * const body = new Element("body", undefined, {}, ["hi"]);
 * const message = new Element("message", "jabber:client", { to: "a@b" }, [body]);
 * assert.equal(body.ns, "jabber:client"); // adopted from its parent
 * assert.equal(message.getChildText("body"), "hi");
 * ```
 */
export class Element {
  /** Local name. */
  name: string;
  /** Namespace URI; `undefined` until the element is adopted by a parent that has one. */
  ns: string | undefined;
  /** Attributes, without namespace declarations. */
  attrs: Record<string, string>;
  /** Children in document order. */
  children: XmlNode[];

  /**
   * Creates an element. Children whose namespace is not set take this one's.
   *
   * @param name Local name.
   * @param ns Namespace URI, or `undefined` to inherit from the parent.
   * @param attrs Attributes.
   * @param children Child nodes.
   */
  constructor(
    name: string,
    ns: string | undefined,
    attrs: Record<string, string> = {},
    children: XmlNode[] = [],
  ) {
    this.name = name;
    this.ns = ns;
    this.attrs = attrs;
    this.children = children;
    if (ns !== undefined) { for (const child of children) adopt(child, ns); }
  }

  /**
   * Whether this element has the given name and, when given, namespace.
   *
   * @example Usage
   * ```ts
   * import { el } from "./element.ts";
   * import assert from "node:assert/strict";
   *
   * assert.ok(el("ping", { xmlns: "urn:xmpp:ping" }).is("ping", "urn:xmpp:ping"));
   * ```
   */
  is(name: string, ns?: string): boolean {
    return this.name === name && (ns === undefined || this.ns === ns);
  }

  /**
   * The value of attribute `name`, or `undefined`. Only the element's own
   * attributes count: `attr("constructor")` is `undefined`, not a function
   * inherited from `Object.prototype`.
   */
  attr(name: string): string | undefined {
    return Object.hasOwn(this.attrs, name) ? this.attrs[name] : undefined;
  }

  /** The first child element matching `name` and, when given, `ns`. */
  getChild(name: string, ns?: string): Element | undefined {
    for (const child of this.children) {
      if (typeof child !== "string" && child.is(name, ns)) return child;
    }
    return undefined;
  }

  /** Every child element matching `name` and, when given, `ns`. */
  getChildren(name: string, ns?: string): Element[] {
    const found: Element[] = [];
    for (const child of this.children) {
      if (typeof child !== "string" && child.is(name, ns)) found.push(child);
    }
    return found;
  }

  /** The child elements, without text nodes. */
  elements(): Element[] {
    const found: Element[] = [];
    for (const child of this.children) if (typeof child !== "string") found.push(child);
    return found;
  }

  /** The first child element, if any. */
  firstElement(): Element | undefined {
    for (const child of this.children) if (typeof child !== "string") return child;
    return undefined;
  }

  /** The concatenated text of the direct text children. */
  text(): string {
    let text = "";
    for (const child of this.children) if (typeof child === "string") text += child;
    return text;
  }

  /** The text of the first matching child element, or `undefined` when it is absent. */
  getChildText(name: string, ns?: string): string | undefined {
    return this.getChild(name, ns)?.text();
  }

  /**
   * Appends children; those without a namespace take this element's.
   *
   * @returns This element, for chaining.
   */
  append(...nodes: XmlNode[]): this {
    for (const node of nodes) {
      if (this.ns !== undefined) adopt(node, this.ns);
      this.children.push(node);
    }
    return this;
  }
}

function adopt(node: XmlNode, ns: string): void {
  if (typeof node === "string" || node.ns !== undefined) return;
  node.ns = ns;
  for (const child of node.children) adopt(child, ns);
}

/**
 * Builds an element. The `xmlns` attribute sets the namespace; attributes
 * whose value is `undefined` are left out, and `null`, `undefined` and `false`
 * children are skipped, so optional parts can be written inline.
 *
 * @param name Local name.
 * @param attrs Attributes, with `xmlns` for the namespace.
 * @param children Child elements and text.
 * @returns The new element.
 *
 * @example Usage
 * ```ts
 * import { el } from "./element.ts";
 * import assert from "node:assert/strict";
 *
 * const iq = el("iq", { xmlns: "jabber:client", type: "result", id: undefined },
 *   el("query", { xmlns: "jabber:iq:roster" }), false);
 * assert.deepEqual(iq.attrs, { type: "result" });
 * assert.equal(iq.getChild("query")?.ns, "jabber:iq:roster");
 * ```
 */
export function el(
  name: string,
  attrs: AttrInput = {},
  ...children: (XmlNode | null | undefined | false)[]
): Element {
  let ns: string | undefined;
  const clean: Record<string, string> = {};
  for (const key in attrs) {
    const value = attrs[key];
    if (value === undefined) continue;
    if (key === "xmlns") ns = value;
    else clean[key] = value;
  }
  const kept: XmlNode[] = [];
  for (const child of children) {
    if (child !== null && child !== undefined && child !== false) kept.push(child);
  }
  return new Element(name, ns, clean, kept);
}
