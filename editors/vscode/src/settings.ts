// The `wisp.*` settings as the server takes them: a nested tree (`wisp.completion.max_tokens` ->
// `{ completion: { max_tokens } }`) for `initializationOptions` and `workspace/didChangeConfiguration`.
// `wisp.server.*` belongs to the extension (how to start the server) and is never sent.

import * as vscode from "vscode";

/** The settings section of the extension. */
export const SECTION = "wisp";

/** Settings under this prefix configure the extension itself, not the server. */
const EXTENSION_ONLY_PREFIX = "server.";

/** A JSON tree of settings. */
export type SettingsTree = { [key: string]: unknown };

/** The keys (without `wisp.`) of the server's settings the extension contributes. */
export function serverSettingKeys(extension: vscode.Extension<unknown>): string[] {
  const properties: Record<string, unknown> =
    extension.packageJSON?.contributes?.configuration?.properties ?? {};
  return Object.keys(properties)
    .filter((key) => key.startsWith(`${SECTION}.`))
    .map((key) => key.slice(SECTION.length + 1))
    .filter((key) => !key.startsWith(EXTENSION_ONLY_PREFIX));
}

/** Whether the user set `key` anywhere (user, workspace or folder settings, any language). */
function isSet(configuration: vscode.WorkspaceConfiguration, key: string): boolean {
  const inspected = configuration.inspect(key);
  if (!inspected) {
    return false;
  }
  return [
    inspected.globalValue,
    inspected.workspaceValue,
    inspected.workspaceFolderValue,
    inspected.globalLanguageValue,
    inspected.workspaceLanguageValue,
    inspected.workspaceFolderLanguageValue,
  ].some((value) => value !== undefined);
}

/** Puts `value` at the dotted `key` of `tree`. */
function place(tree: SettingsTree, key: string, value: unknown): void {
  const parts = key.split(".");
  let node = tree;
  for (const part of parts.slice(0, -1)) {
    if (typeof node[part] !== "object" || node[part] === null) {
      node[part] = {};
    }
    node = node[part] as SettingsTree;
  }
  node[parts[parts.length - 1]] = value;
}

/**
 * The server's settings the user set, as a tree. Only explicit values are sent, so a `wisp.toml`
 * in the workspace is not overridden by the extension's defaults. Keys in `alsoSend` (those sent
 * before and since unset) are sent with their default, so unsetting a setting takes effect.
 */
export function settingsTree(keys: string[], alsoSend: ReadonlySet<string> = new Set()): {
  tree: SettingsTree;
  sent: Set<string>;
} {
  const configuration = vscode.workspace.getConfiguration(SECTION);
  const tree: SettingsTree = {};
  const sent = new Set<string>();
  for (const key of keys) {
    if (isSet(configuration, key)) {
      sent.add(key);
      place(tree, key, configuration.get(key));
    } else if (alsoSend.has(key)) {
      // The contributed default is the server's default (both come from `wisp config schema`).
      place(tree, key, configuration.inspect(key)?.defaultValue ?? null);
    }
  }
  return { tree, sent };
}
