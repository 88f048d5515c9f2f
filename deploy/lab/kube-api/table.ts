// Server-side printing: a meta.k8s.io/v1 Table of objects for kubectl get, rows built by the
// kind's printer (printers.ts), each row carrying the object's metadata (or the object, or nothing:
// includeObject), column definitions only on the first event of a Table watch.
import type { KubeObject } from "./object.ts";
import { printerFor } from "./printers.ts";
import type { ResourceType } from "./resources.ts";

export type IncludeObject = "None" | "Metadata" | "Object";

function rowObject(object: KubeObject, include: IncludeObject): unknown {
  if (include === "None") return undefined;
  if (include === "Object") return object;
  return { kind: "PartialObjectMetadata", apiVersion: "meta.k8s.io/v1", metadata: object.metadata };
}

/** A Table of `objects`; `withColumns` false leaves the column definitions out (watch events after the first). */
export function toTable(type: ResourceType, objects: readonly KubeObject[], resourceVersion: string, include: IncludeObject, withColumns = true): object {
  const printer = printerFor(type.kind);
  const now = Date.now();
  return {
    kind: "Table",
    apiVersion: "meta.k8s.io/v1",
    metadata: { resourceVersion },
    columnDefinitions: withColumns ? printer.columns.map((column) => ({ format: "", priority: 0, ...column })) : null,
    rows: objects.map((object) => ({ cells: printer.row(object, now), object: rowObject(object, include) })),
  };
}
