// The vxlan backend's options, decoded from net-conf.json's `Backend` object as Flannel does
// (F:pkg/backend/vxlan/vxlan.go RegisterNetwork): VNI defaults to 1, Port 0 leaves the port to
// the kernel (8472), MTU 0 means the external interface's MTU (before the 50-byte overhead),
// GBP, Learning and DirectRouting default to false. Keys are case-insensitive.
import { FlannelError } from "../errors.ts";
import { decodeGoFields } from "./go-fields.ts";

export interface VxlanOptions {
  readonly vni: number;
  /** 0: the attribute is not sent and the kernel uses 8472. */
  readonly port: number;
  /** 0: the external interface's MTU. The device gets this minus 50. */
  readonly mtu: number;
  readonly gbp: boolean;
  readonly learning: boolean;
  readonly directRouting: boolean;
}

export const defaultVxlanOptions: VxlanOptions = { vni: 1, port: 0, mtu: 0, gbp: false, learning: false, directRouting: false };

const fields = { VNI: "int", Port: "int", MTU: "int", GBP: "bool", Learning: "bool", DirectRouting: "bool" } as const;

// A VNI is 24 bits. Flannel would pass a larger one on and fail at device creation; refusing it
// here names the field instead.
const limits: Readonly<Record<"VNI" | "Port" | "MTU", readonly [number, number]>> = {
  VNI: [0, 0xffffff],
  Port: [0, 0xffff],
  MTU: [0, 0xffff],
};

function invalid(field: string, value: unknown, reason: string): FlannelError {
  return new FlannelError("netconf-invalid", `error decoding VXLAN backend config: ${reason}`, {
    details: { field: field === "" ? "Backend" : `Backend.${field}`, value, reason },
  });
}

/** Decodes the raw `Backend` JSON (its `Type` and unknown keys are ignored). */
export function decodeVxlanOptions(raw: unknown): VxlanOptions {
  const decoded = decodeGoFields(raw, fields);
  if (!decoded.ok) throw invalid(decoded.field, decoded.value, decoded.reason);
  const { values } = decoded;
  for (const [field, [min, max]] of Object.entries(limits)) {
    const value = values[field as keyof typeof limits];
    if (value !== undefined && (value < min || value > max)) {
      throw invalid(field, value, `${field} must be between ${min} and ${max}, got ${value}`);
    }
  }
  return {
    vni: values.VNI ?? defaultVxlanOptions.vni,
    port: values.Port ?? defaultVxlanOptions.port,
    mtu: values.MTU ?? defaultVxlanOptions.mtu,
    gbp: values.GBP ?? defaultVxlanOptions.gbp,
    learning: values.Learning ?? defaultVxlanOptions.learning,
    directRouting: values.DirectRouting ?? defaultVxlanOptions.directRouting,
  };
}
