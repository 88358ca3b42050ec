// Wisp's VS Code extension: starts `wisp serve` over stdio, passes the `wisp.*` settings to it,
// shows its inline suggestions and its status, and offers its commands (enable/disable, stats,
// the prompt at the cursor, fetching the model, restart).

import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as vscode from "vscode";
import {
  DidChangeConfigurationNotification,
  LanguageClient,
  LanguageClientOptions,
  RevealOutputChannelOn,
  ServerOptions,
  State,
} from "vscode-languageclient/node";
import { InlineSuggestions, LANGUAGES } from "./inline";
import { SECTION, serverSettingKeys, settingsTree } from "./settings";
import { ServerStatus, StatusItem } from "./status";

/** What to say when there is no server binary. */
const NOT_FOUND_MESSAGE =
  "Wisp: 'wisp' was not found — build it with `cargo build --release` and put target/release/wisp on PATH, or set wisp.server.path";

let client: LanguageClient | undefined;
let status: StatusItem;
let log: vscode.OutputChannel;
let extension: vscode.Extension<unknown>;
/** The server settings sent in `initializationOptions`, re-sent with their default once unset. */
let initialKeys = new Set<string>();

/** `~` and `${userHome}` in a configured path. */
function expandHome(file: string): string {
  if (file === "~" || file.startsWith("~/")) {
    return path.join(os.homedir(), file.slice(1));
  }
  return file.replace("${userHome}", os.homedir());
}

function isExecutable(file: string): boolean {
  try {
    fs.accessSync(file, fs.constants.X_OK);
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
}

/** The server binary: `wisp.server.path`, else `wisp` on PATH. */
export function findServer(): string | undefined {
  const configured = vscode.workspace.getConfiguration(SECTION).get<string>("server.path")?.trim();
  if (configured) {
    const file = expandHome(configured);
    return isExecutable(file) ? file : undefined;
  }
  const names = process.platform === "win32" ? ["wisp.exe", "wisp"] : ["wisp"];
  for (const dir of (process.env.PATH ?? "").split(path.delimiter)) {
    for (const name of names) {
      const file = path.join(dir, name);
      if (dir && isExecutable(file)) {
        return file;
      }
    }
  }
  return undefined;
}

function serverArgs(): string[] {
  return vscode.workspace.getConfiguration(SECTION).get<string[]>("server.args") ?? [];
}

async function startClient(): Promise<void> {
  const binary = findServer();
  if (!binary) {
    status.failed(NOT_FOUND_MESSAGE);
    // Not awaited: activation does not wait for the user to answer.
    void vscode.window.showErrorMessage(NOT_FOUND_MESSAGE, "Open Settings").then((choice) => {
      if (choice) {
        void vscode.commands.executeCommand("workbench.action.openSettings", "wisp.server.path");
      }
    });
    return;
  }
  const { tree, sent } = settingsTree(serverSettingKeys(extension));
  initialKeys = sent;
  // No `transport`: the client would add `--stdio`, which `wisp serve` does not take (stdio is its
  // only transport).
  const executable = { command: binary, args: ["serve", ...serverArgs()] };
  const serverOptions: ServerOptions = { run: executable, debug: executable };
  const clientOptions: LanguageClientOptions = {
    documentSelector: LANGUAGES.flatMap((language) => [
      { scheme: "file", language },
      { scheme: "untitled", language },
    ]),
    initializationOptions: tree,
    outputChannel: log,
    revealOutputChannelOn: RevealOutputChannelOn.Never,
    middleware: {
      // The server's `textDocument/completion` is for editors without inline suggestions; here
      // it would repeat the ghost text in the suggest widget (and run the model twice).
      provideCompletionItem: () => undefined,
    },
  };
  const current = new LanguageClient("wisp", "Wisp", serverOptions, clientOptions);
  client = current;
  current.onNotification("didChangeStatus", (params: ServerStatus) => status.update(params));
  current.onDidChangeState((change) => {
    // A client stopped on purpose (restart, deactivation) is no longer `client`.
    if (change.newState === State.Stopped && client === current) {
      status.failed("the server stopped — see “Wisp: Show the log”, then run “Wisp: Restart the server”");
    }
  });
  log.appendLine(`Starting ${binary} serve with ${JSON.stringify(tree)}`);
  try {
    await current.start();
  } catch (error) {
    status.failed(`the server did not start: ${error}`);
    void vscode.window.showErrorMessage(`Wisp: the server (${binary}) did not start: ${error}`);
  }
}

async function stopClient(): Promise<void> {
  const running = client;
  client = undefined;
  if (running) {
    try {
      await running.stop();
    } catch (error) {
      log.appendLine(`stopping the server: ${error}`);
    }
  }
}

async function restart(): Promise<void> {
  await stopClient();
  await startClient();
}

/** Sends the server settings after a change (`workspace/didChangeConfiguration`). */
function sendSettings(): void {
  if (!client?.isRunning()) {
    return;
  }
  const { tree } = settingsTree(serverSettingKeys(extension), initialKeys);
  log.appendLine(`Settings changed: ${JSON.stringify(tree)}`);
  void client.sendNotification(DidChangeConfigurationNotification.type, { settings: tree });
}

function suggestionsEnabled(): boolean {
  return vscode.workspace.getConfiguration(SECTION).get<boolean>("completion.enabled") ?? true;
}

async function setEnabled(enabled: boolean): Promise<void> {
  await vscode.workspace
    .getConfiguration(SECTION)
    .update("completion.enabled", enabled, vscode.ConfigurationTarget.Global);
}

function runningClient(): LanguageClient | undefined {
  if (!client?.isRunning()) {
    void vscode.window.showWarningMessage("Wisp: the server is not running — run “Wisp: Restart the server”.");
    return undefined;
  }
  return client;
}

/** A number for a table cell. */
function figure(value: unknown, digits = 0): string {
  return typeof value === "number" ? value.toFixed(digits) : "–";
}

/** `wisp/stats` as a read-only markdown document: a table per group, then the figures as JSON. */
async function showStats(documents: ReadOnlyDocuments): Promise<void> {
  const running = runningClient();
  if (!running) {
    return;
  }
  try {
    const stats = await running.sendRequest<{ database: string; groups?: Record<string, unknown>[] }>("wisp/stats", {});
    const lines = [
      "# Wisp statistics",
      "",
      `From \`${stats.database}\` (what \`wisp stats\` shows).`,
      "",
      "| group | completions | shown | accepted | acceptance | partly accepted | dismissed | latency p50 | latency p95 |",
      "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ];
    for (const group of stats.groups ?? []) {
      const rate = typeof group.acceptance_rate === "number" ? `${(group.acceptance_rate * 100).toFixed(1)}%` : "–";
      lines.push(
        `| ${group.key} | ${group.completions} | ${group.shown} | ${group.accepted} | ${rate} | ${group.partially_accepted} | ${group.dismissed} | ${figure(group.latency_p50_ms)} ms | ${figure(group.latency_p95_ms)} ms |`,
      );
    }
    const json = JSON.stringify(stats, null, 2);
    lines.push("", "## All figures", "", fence(json) + "json", json, fence(json), "");
    const document = await vscode.workspace.openTextDocument(documents.add("stats", lines.join("\n")));
    await vscode.window.showTextDocument(document, { preview: true });
  } catch (error) {
    void vscode.window.showErrorMessage(`Wisp: ${error instanceof Error ? error.message : error}`);
  }
}

/** The read-only markdown documents `wisp.showPrompt` and `wisp.showStats` open. */
class ReadOnlyDocuments implements vscode.TextDocumentContentProvider {
  static readonly scheme = "wisp";
  private readonly contents = new Map<string, string>();
  private serial = 0;

  add(name: string, content: string): vscode.Uri {
    this.serial += 1;
    const uri = vscode.Uri.from({ scheme: ReadOnlyDocuments.scheme, path: `/${name}-${this.serial}.md` });
    this.contents.set(uri.toString(), content);
    return uri;
  }

  provideTextDocumentContent(uri: vscode.Uri): string {
    return this.contents.get(uri.toString()) ?? "";
  }
}

interface DebugPrompt {
  prompt: string;
  format: string;
  nTokens: number;
  budgetTokens: number;
  model: string;
  snippets: { path: string; origin: string; text: string }[];
}

/** A fence longer than any backtick run in `text`. */
function fence(text: string): string {
  const longest = Math.max(2, ...Array.from(text.matchAll(/`+/g), (match) => match[0].length));
  return "`".repeat(longest + 1);
}

async function showPrompt(prompts: ReadOnlyDocuments): Promise<void> {
  const editor = vscode.window.activeTextEditor;
  const running = runningClient();
  if (!editor || !running) {
    return;
  }
  try {
    const answer = await running.sendRequest<DebugPrompt>(
      "wisp/debugPrompt",
      running.code2ProtocolConverter.asTextDocumentPositionParams(editor.document, editor.selection.active),
    );
    const lines = [
      `# Wisp prompt for ${vscode.workspace.asRelativePath(editor.document.uri)}:${editor.selection.active.line + 1}:${editor.selection.active.character + 1}`,
      "",
      `Model \`${answer.model}\`, format \`${answer.format}\`, ${answer.nTokens} of ${answer.budgetTokens} tokens.`,
      "",
      `## Snippets (${answer.snippets.length})`,
      "",
    ];
    for (const snippet of answer.snippets) {
      const marks = fence(snippet.text);
      lines.push(`### ${snippet.path} — ${snippet.origin}`, "", marks, snippet.text, marks, "");
    }
    const marks = fence(answer.prompt);
    lines.push("## Prompt", "", marks, answer.prompt, marks, "");
    const document = await vscode.workspace.openTextDocument(prompts.add("prompt", lines.join("\n")));
    await vscode.window.showTextDocument(document, { preview: true, viewColumn: vscode.ViewColumn.Beside });
  } catch (error) {
    void vscode.window.showErrorMessage(`Wisp: ${error instanceof Error ? error.message : error}`);
  }
}

/**
 * `wisp models fetch` as a task, with the configured binary: its terminal stays open to show the
 * outcome, and the server restarts when it succeeds (so a model that was missing loads).
 */
async function fetchModel(): Promise<void> {
  const binary = findServer();
  if (!binary) {
    void vscode.window.showErrorMessage(NOT_FOUND_MESSAGE);
    return;
  }
  const scope = vscode.workspace.workspaceFolders?.[0] ?? vscode.TaskScope.Workspace;
  const task = new vscode.Task(
    { type: "wisp", command: "models fetch" },
    scope,
    "fetch the model",
    "wisp",
    new vscode.ProcessExecution(binary, ["models", "fetch"]),
  );
  task.presentationOptions = { reveal: vscode.TaskRevealKind.Always, panel: vscode.TaskPanelKind.Dedicated, clear: true };
  const execution = await vscode.tasks.executeTask(task);
  const ended = vscode.tasks.onDidEndTaskProcess((event) => {
    if (event.execution === execution) {
      ended.dispose();
      if (event.exitCode === 0) {
        void restart();
      }
    }
  });
}

async function showMenu(): Promise<void> {
  const enabled = suggestionsEnabled();
  const choices: (vscode.QuickPickItem & { command: string })[] = [
    enabled
      ? { label: "$(circle-slash) Disable suggestions", command: "wisp.disable" }
      : { label: "$(check) Enable suggestions", command: "wisp.enable" },
    { label: "$(graph) Show suggestion statistics", command: "wisp.showStats" },
    { label: "$(search) Show the prompt at the cursor", command: "wisp.showPrompt" },
    { label: "$(cloud-download) Fetch the model", command: "wisp.fetchModel" },
    { label: "$(debug-restart) Restart the server", command: "wisp.restart" },
    { label: "$(gear) Settings", command: "wisp.openSettings" },
    { label: "$(output) Show the log", command: "wisp.showLog" },
  ];
  const choice = await vscode.window.showQuickPick(choices, { placeHolder: "Wisp" });
  if (choice) {
    await vscode.commands.executeCommand(choice.command);
  }
}

/** Whether VS Code lets this extension use the `inlineCompletionsAdditions` API proposal. */
function proposalEnabled(): boolean {
  // VS Code removes the proposals it does not allow from the extension's description, which is
  // what `packageJSON` holds.
  const proposals: string[] = extension.packageJSON?.enabledApiProposals ?? [];
  return proposals.includes("inlineCompletionsAdditions");
}

export async function activate(context: vscode.ExtensionContext): Promise<void> {
  extension = context.extension;
  log = vscode.window.createOutputChannel("Wisp");
  status = new StatusItem();
  status.setEnabled(suggestionsEnabled());
  const documents = new ReadOnlyDocuments();
  const suggestions = new InlineSuggestions(() => client, proposalEnabled(), log);
  log.appendLine(
    proposalEnabled()
      ? "Shown/partly accepted/rejected suggestions are reported from VS Code's inlineCompletionsAdditions hooks."
      : "The inlineCompletionsAdditions API proposal is not enabled: shown suggestions are approximated.",
  );
  context.subscriptions.push(
    log,
    status,
    suggestions,
    vscode.workspace.registerTextDocumentContentProvider(ReadOnlyDocuments.scheme, documents),
    vscode.commands.registerCommand("wisp.enable", () => setEnabled(true)),
    vscode.commands.registerCommand("wisp.disable", () => setEnabled(false)),
    vscode.commands.registerCommand("wisp.showStats", () => showStats(documents)),
    vscode.commands.registerCommand("wisp.showPrompt", () => showPrompt(documents)),
    vscode.commands.registerCommand("wisp.fetchModel", fetchModel),
    vscode.commands.registerCommand("wisp.restart", restart),
    vscode.commands.registerCommand("wisp.showMenu", showMenu),
    vscode.commands.registerCommand("wisp.showLog", () => log.show()),
    vscode.commands.registerCommand("wisp.openSettings", () =>
      vscode.commands.executeCommand("workbench.action.openSettings", "@ext:wisp.wisp"),
    ),
    vscode.workspace.onDidChangeConfiguration((event) => {
      if (!event.affectsConfiguration(SECTION)) {
        return;
      }
      status.setEnabled(suggestionsEnabled());
      if (event.affectsConfiguration(`${SECTION}.server`)) {
        void restart();
      } else {
        sendSettings();
      }
    }),
  );
  await startClient();
}

export async function deactivate(): Promise<void> {
  await stopClient();
}
