// Label selectors (k=v, k==v, k!=v, k in (a,b), k notin (a,b), k, !k) and field selectors
// (f=v, f==v, f!=v; only the fields the resource's registry declares selectable, anything else is
// the real server's 400 "field label not supported: <label>").
import { badRequest } from "./errors.ts";
import type { KubeObject } from "./object.ts";
import type { ResourceType } from "./resources.ts";

export type Selector = (object: KubeObject) => boolean;

const everything: Selector = () => true;

function splitTopLevel(text: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let current = "";
  for (const char of text) {
    if (char === "(") depth += 1;
    if (char === ")") depth -= 1;
    if (char === "," && depth === 0) {
      parts.push(current);
      current = "";
    } else current += char;
  }
  parts.push(current);
  return parts.map((part) => part.trim()).filter((part) => part !== "");
}

function labelRequirement(text: string): Selector {
  const labels = (object: KubeObject): Record<string, string> => object.metadata.labels ?? {};
  const set = /^([^\s!=()]+)\s+(in|notin)\s+\(([^)]*)\)$/.exec(text);
  if (set !== null) {
    const [, key, operator, list] = set as unknown as [string, string, string, string];
    const values = list.split(",").map((value) => value.trim()).filter((value) => value !== "");
    return operator === "in"
      ? (object) => values.includes(labels(object)[key] ?? "\0")
      : (object) => !Object.hasOwn(labels(object), key) || !values.includes(labels(object)[key]!);
  }
  const compare = /^([^\s!=()]+)\s*(==|=|!=)\s*([^\s!=()]*)$/.exec(text);
  if (compare !== null) {
    const [, key, operator, value] = compare as unknown as [string, string, string, string];
    return operator === "!=" ? (object) => labels(object)[key] !== value : (object) => labels(object)[key] === value;
  }
  const absent = /^!\s*([^\s!=()]+)$/.exec(text);
  if (absent !== null) return (object) => !Object.hasOwn(labels(object), absent[1]!);
  const present = /^([^\s!=()]+)$/.exec(text);
  if (present !== null) return (object) => Object.hasOwn(labels(object), present[1]!);
  throw badRequest(`unable to parse requirement: ${text}`);
}

export function parseLabelSelector(text: string | null): Selector {
  if (text === null || text.trim() === "") return everything;
  const requirements = splitTopLevel(text).map(labelRequirement);
  return (object) => requirements.every((requirement) => requirement(object));
}

export function parseFieldSelector(text: string | null, resource: ResourceType): Selector {
  if (text === null || text.trim() === "") return everything;
  const requirements: Selector[] = [];
  for (const term of splitTopLevel(text)) {
    const match = /^([^!=]+?)\s*(==|=|!=)\s*(.*)$/.exec(term);
    if (match === null) throw badRequest(`invalid selector: '${text}'; can't understand '${term}'`);
    const [, label, operator, value] = match as unknown as [string, string, string, string];
    let read: ((object: KubeObject) => string) | undefined = resource.fieldLabels[label];
    if (label === "metadata.name") read = (object) => object.metadata.name ?? "";
    if (label === "metadata.namespace" && resource.namespaced) read = (object) => object.metadata.namespace ?? "";
    if (read === undefined) throw badRequest(`field label not supported: ${label}`);
    const readField = read;
    requirements.push(operator === "!=" ? (object) => readField(object) !== value : (object) => readField(object) === value);
  }
  return (object) => requirements.every((requirement) => requirement(object));
}
