// The one Node global the example uses (Debian ships no @types/node).
declare const process: { env: Record<string, string | undefined> };
