import assert from "node:assert/strict";
import { el, Element } from "../../src/xml/element.ts";

const NS_A = "urn:example:a";
const NS_B = "urn:example:b";

Deno.test("Element constructor keeps name, namespace, attributes and children as given", () => {
  const child = new Element("child", NS_B);
  const attrs = { id: "1" };
  const element = new Element("root", NS_A, attrs, [child, "text"]);
  assert.equal(element.name, "root");
  assert.equal(element.ns, NS_A);
  assert.equal(element.attrs, attrs);
  assert.deepEqual(element.children, [child, "text"]);
  assert.equal(child.ns, NS_B);
});

Deno.test("Element constructor defaults to no attributes and no children", () => {
  const element = new Element("empty", undefined);
  assert.deepEqual(element.attrs, {});
  assert.deepEqual(element.children, []);
  assert.equal(element.ns, undefined);
});

Deno.test("Element constructor gives children without a namespace its own, recursively", () => {
  const grandchild = new Element("grandchild", undefined);
  const child = new Element("child", undefined, {}, [grandchild]);
  const foreign = new Element("foreign", NS_B, {}, [new Element("inner", undefined)]);
  new Element("root", NS_A, {}, [child, foreign]);
  assert.equal(child.ns, NS_A);
  assert.equal(grandchild.ns, NS_A);
  assert.equal(foreign.ns, NS_B);
  assert.equal(foreign.getChild("inner")?.ns, NS_B);
});

Deno.test("Element constructor without a namespace leaves children unresolved until adopted", () => {
  const child = el("child");
  const middle = el("middle", {}, child);
  assert.equal(child.ns, undefined);
  el("root", { xmlns: NS_A }, middle);
  assert.equal(middle.ns, NS_A);
  assert.equal(child.ns, NS_A);
});

Deno.test("Element.is() matches the name and, when given, the namespace", () => {
  const ping = el("ping", { xmlns: "urn:xmpp:ping" });
  assert.equal(ping.is("ping"), true);
  assert.equal(ping.is("ping", "urn:xmpp:ping"), true);
  assert.equal(ping.is("ping", "jabber:client"), false);
  assert.equal(ping.is("pong"), false);
  assert.equal(ping.is("pong", "urn:xmpp:ping"), false);
  assert.equal(el("bare").is("bare", NS_A), false);
});

Deno.test("Element.attr() returns an attribute value or undefined", () => {
  const element = el("iq", { type: "get", id: "" });
  assert.equal(element.attr("type"), "get");
  assert.equal(element.attr("id"), "");
  assert.equal(element.attr("to"), undefined);
});

Deno.test("Element.attr() ignores names inherited from Object.prototype", () => {
  const element = el("iq", { type: "get" });
  for (const name of ["constructor", "toString", "hasOwnProperty", "__proto__", "valueOf"]) {
    assert.equal(element.attr(name), undefined, name);
  }
});

Deno.test("Element.getChild() returns the first child with the name and namespace", () => {
  const first = el("item", { xmlns: NS_B, n: "1" });
  const second = el("item", { n: "2" });
  const third = el("item", { xmlns: NS_B, n: "3" });
  const root = el("root", { xmlns: NS_A }, "text", first, second, third);
  assert.equal(root.getChild("item"), first);
  assert.equal(root.getChild("item", NS_A), second);
  assert.equal(root.getChild("item", NS_B), first);
  assert.equal(root.getChild("item", "urn:none"), undefined);
  assert.equal(root.getChild("missing"), undefined);
});

Deno.test("Element.getChild() looks at direct children only", () => {
  const root = el("root", {}, el("outer", {}, el("inner")));
  assert.equal(root.getChild("inner"), undefined);
  assert.ok(root.getChild("outer")?.getChild("inner"));
});

Deno.test("Element.getChildren() returns every matching child in document order", () => {
  const a = el("item", { n: "a" });
  const b = el("item", { xmlns: NS_B, n: "b" });
  const c = el("item", { n: "c" });
  const root = el("root", { xmlns: NS_A }, a, "x", el("other"), b, c);
  assert.deepEqual(root.getChildren("item"), [a, b, c]);
  assert.deepEqual(root.getChildren("item", NS_A), [a, c]);
  assert.deepEqual(root.getChildren("item", NS_B), [b]);
  assert.deepEqual(root.getChildren("none"), []);
});

Deno.test("Element.elements() returns the child elements without text", () => {
  const a = el("a");
  const b = el("b");
  assert.deepEqual(el("root", {}, " ", a, "\n", b, " ").elements(), [a, b]);
  assert.deepEqual(el("root", {}, "only text").elements(), []);
});

Deno.test("Element.firstElement() skips text and returns undefined without elements", () => {
  const a = el("a");
  assert.equal(el("root", {}, "  ", a, el("b")).firstElement(), a);
  assert.equal(el("root", {}, "text").firstElement(), undefined);
  assert.equal(el("root").firstElement(), undefined);
});

Deno.test("Element.text() concatenates direct text children only", () => {
  const root = el("body", {}, "Hello, ", el("b", {}, "bold"), "world");
  assert.equal(root.text(), "Hello, world");
  assert.equal(el("empty").text(), "");
});

Deno.test("Element.getChildText() returns the child's text, empty text, or undefined when absent", () => {
  const message = el("message", { xmlns: "jabber:client" }, el("body", {}, "hi"), el("subject"));
  assert.equal(message.getChildText("body"), "hi");
  assert.equal(message.getChildText("body", "jabber:client"), "hi");
  assert.equal(message.getChildText("body", NS_A), undefined);
  assert.equal(message.getChildText("subject"), "");
  assert.equal(message.getChildText("thread"), undefined);
});

Deno.test("Element.append() adds nodes in order, adopts the namespace and chains", () => {
  const root = el("root", { xmlns: NS_A });
  const plain = el("plain", {}, el("nested"));
  const foreign = el("foreign", { xmlns: NS_B });
  assert.equal(root.append(plain, "text", foreign), root);
  assert.deepEqual(root.children, [plain, "text", foreign]);
  assert.equal(plain.ns, NS_A);
  assert.equal(plain.getChild("nested")?.ns, NS_A);
  assert.equal(foreign.ns, NS_B);
});

Deno.test("Element.append() on an element without a namespace leaves children unresolved", () => {
  const root = el("root");
  const child = el("child");
  root.append(child);
  assert.equal(child.ns, undefined);
});

Deno.test("el() takes the namespace from xmlns and keeps it out of the attributes", () => {
  const element = el("query", { xmlns: NS_A, node: "n" });
  assert.equal(element.ns, NS_A);
  assert.deepEqual(element.attrs, { node: "n" });
});

Deno.test("el() leaves out undefined attributes but keeps empty strings", () => {
  const element = el("iq", { type: "get", id: undefined, to: "", xmlns: undefined });
  assert.deepEqual(element.attrs, { type: "get", to: "" });
  assert.equal(element.ns, undefined);
});

Deno.test("el() keeps attribute order as written", () => {
  const element = el("iq", { type: "get", id: "1", from: "a", to: "b" });
  assert.deepEqual(Object.keys(element.attrs), ["type", "id", "from", "to"]);
});

Deno.test("el() skips null, undefined and false children but keeps empty text", () => {
  const child = el("child");
  const element = el("root", {}, null, child, undefined, false, "", "x");
  assert.deepEqual(element.children, [child, "", "x"]);
});

Deno.test("el() does not share the attribute object it was given", () => {
  const attrs = { type: "get" };
  const element = el("iq", attrs);
  element.attrs.type = "set";
  assert.equal(attrs.type, "get");
});
