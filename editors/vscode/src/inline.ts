// Inline suggestions (ghost text): an InlineCompletionItemProvider that asks the server with
// `textDocument/inlineCompletion` and reports what happens to each suggestion that carries an id
// (the server adds one when `telemetry.events` is on):
// - accept: the item's command runs `workspace/executeCommand wisp.acceptCompletion [id]`, once;
// - shown: `textDocument/didShowCompletion { item }`, from VS Code's `handleDidShowCompletionItem`
//   (API proposal `inlineCompletionsAdditions`). Where VS Code does not allow the proposal to this
//   extension (a stable VS Code without `--enable-proposed-api wisp.wisp`), the honest
//   approximation is used instead: an item counts as shown when, shortly after it was returned,
//   the same document is still in the active editor, unchanged, with the cursor where it was
//   asked for — VS Code then displays it unless another suggestion or the suggest widget wins;
// - partly accepted (accept word, Ctrl+Right): `textDocument/didPartiallyAcceptCompletion
//   { item, acceptedLength }`, the cumulative length in UTF-16 code units, from
//   `handleDidPartiallyAcceptCompletionItem` (same proposal);
// - dismissed: `wisp/didDismissCompletion { id, reason }` when Escape hides a shown suggestion
//   (the extension's Escape key binding, which works without the proposal), or when VS Code reports
//   the suggestion rejected through `handleEndOfLifetime`.

import * as vscode from "vscode";
import type { LanguageClient } from "vscode-languageclient/node";

/** The languages Wisp suggests in. */
export const LANGUAGES = [
  "rust",
  "python",
  "typescript",
  "typescriptreact",
  "javascript",
  "javascriptreact",
  "go",
  "c",
  "cpp",
  "java",
];

/** The command that reports an accept (runs the server's `wisp.acceptCompletion`). */
export const ACCEPT_COMMAND = "wisp.internal.accept";

/** How long after returning a suggestion the approximation checks that it is on screen, in ms. */
const APPROXIMATE_SHOW_DELAY_MS = 150;

/** Suggestions whose outcome is remembered (the newest ones; older ones can no longer change). */
const MAX_TRACKED = 64;

/** An LSP `InlineCompletionItem` as the server sent it. */
interface WireItem {
  insertText: string | { kind: string; value: string };
  filterText?: string;
  range?: { start: { line: number; character: number }; end: { line: number; character: number } };
  command?: { title: string; command: string; arguments?: unknown[] };
}

/** What happened so far to one suggestion with an id. */
interface Tracked {
  id: string;
  wire: WireItem;
  shown: boolean;
  /** Accepted or dismissed: nothing more is reported. */
  finished: boolean;
  acceptedLength: number;
}

/** A VS Code inline item that remembers the server's item. */
class WispItem extends vscode.InlineCompletionItem {
  constructor(
    insertText: string | vscode.SnippetString,
    range: vscode.Range | undefined,
    readonly tracked?: Tracked,
  ) {
    super(insertText, range);
  }
}

/** The completion id the server put in the item's accept command. */
function completionId(wire: WireItem): string | undefined {
  const argument = wire.command?.command === "wisp.acceptCompletion" ? wire.command.arguments?.[0] : undefined;
  return typeof argument === "string" ? argument : undefined;
}

/**
 * `InlineCompletionParams` (LSP 3.18). Built here rather than with vscode-languageclient 9.0.1's
 * `asInlineCompletionParams`, which passes VS Code's trigger kind through unconverted (VS Code's
 * Invoke = 0, Automatic = 1; LSP's Invoked = 1, Automatic = 2) and the selected completion's range
 * as a VS Code range.
 */
function inlineCompletionParams(
  client: LanguageClient,
  document: vscode.TextDocument,
  position: vscode.Position,
  context: vscode.InlineCompletionContext,
) {
  const converter = client.code2ProtocolConverter;
  const selected = context.selectedCompletionInfo;
  return {
    textDocument: converter.asTextDocumentIdentifier(document),
    position: converter.asPosition(position),
    context: {
      triggerKind: context.triggerKind === vscode.InlineCompletionTriggerKind.Invoke ? 1 : 2,
      ...(selected ? { selectedCompletionInfo: { range: converter.asRange(selected.range), text: selected.text } } : {}),
    },
  };
}

export class InlineSuggestions implements vscode.Disposable {
  private readonly tracked = new Map<string, Tracked>();
  /** The suggestion last shown, which Escape dismisses. */
  private lastShown?: Tracked;
  private readonly disposables: vscode.Disposable[] = [];

  /**
   * @param client the running client, or undefined while there is none.
   * @param proposalEnabled whether VS Code lets this extension use `inlineCompletionsAdditions`.
   */
  constructor(
    private readonly client: () => LanguageClient | undefined,
    private readonly proposalEnabled: boolean,
    private readonly log: vscode.OutputChannel,
  ) {
    const provider: vscode.InlineCompletionItemProvider & Record<string, unknown> = {
      provideInlineCompletionItems: this.provide.bind(this),
    };
    if (proposalEnabled) {
      // VS Code refuses to register a provider with these hooks unless the proposal is enabled.
      Object.assign(provider, {
        handleDidShowCompletionItem: (item: vscode.InlineCompletionItem) => this.shown(item),
        // VS Code calls it with the length, then again with `{ kind, acceptedLength }`: the
        // length from the start of the suggestion, so cumulative.
        handleDidPartiallyAcceptCompletionItem: (
          item: vscode.InlineCompletionItem,
          info: number | { acceptedLength: number },
        ) => this.partiallyAccepted(item, typeof info === "number" ? info : info?.acceptedLength),
        // `kind` 1 is `InlineCompletionEndOfLifeReasonKind.Rejected` (Escape, or typing past it).
        handleEndOfLifetime: (item: vscode.InlineCompletionItem, reason: { kind: number }) => {
          if (reason?.kind === 1) {
            this.dismiss(item instanceof WispItem ? item.tracked : undefined, "rejected");
          }
        },
      });
    }
    this.disposables.push(
      vscode.languages.registerInlineCompletionItemProvider(
        LANGUAGES.map((language) => ({ language })),
        provider,
      ),
      vscode.commands.registerCommand(ACCEPT_COMMAND, (id: string) => this.accepted(id)),
      vscode.commands.registerCommand("wisp.dismissSuggestion", async () => {
        this.dismiss(this.lastShown, "escape");
        await vscode.commands.executeCommand("editor.action.inlineSuggest.hide");
      }),
    );
  }

  private async provide(
    document: vscode.TextDocument,
    position: vscode.Position,
    context: vscode.InlineCompletionContext,
    token: vscode.CancellationToken,
  ): Promise<vscode.InlineCompletionList | undefined> {
    const client = this.client();
    if (!client || !client.isRunning()) {
      return undefined;
    }
    const params = inlineCompletionParams(client, document, position, context);
    let result: WireItem[] | { items: WireItem[] } | null;
    try {
      result = await client.sendRequest("textDocument/inlineCompletion", params, token);
    } catch (error) {
      if (!token.isCancellationRequested) {
        this.log.appendLine(`textDocument/inlineCompletion failed: ${error}`);
      }
      return undefined;
    }
    if (!result || token.isCancellationRequested) {
      return undefined;
    }
    const wires = Array.isArray(result) ? result : result.items;
    const items = wires.map((wire) => this.toItem(client, wire));
    if (!this.proposalEnabled && items.length > 0) {
      this.approximateShown(document, position, items[0]);
    }
    return new vscode.InlineCompletionList(items);
  }

  private toItem(client: LanguageClient, wire: WireItem): WispItem {
    const insertText =
      typeof wire.insertText === "string" ? wire.insertText : new vscode.SnippetString(wire.insertText.value);
    const range = wire.range ? client.protocol2CodeConverter.asRange(wire.range) : undefined;
    const id = completionId(wire);
    let tracked: Tracked | undefined;
    if (id) {
      tracked = this.tracked.get(id) ?? { id, wire, shown: false, finished: false, acceptedLength: 0 };
      this.remember(tracked);
    }
    const item = new WispItem(insertText, range, tracked);
    if (wire.filterText !== undefined) {
      item.filterText = wire.filterText;
    }
    if (id) {
      item.command = { title: wire.command?.title ?? "Accept", command: ACCEPT_COMMAND, arguments: [id] };
    } else if (wire.command) {
      item.command = { title: wire.command.title, command: wire.command.command, arguments: wire.command.arguments };
    }
    return item;
  }

  private remember(tracked: Tracked): void {
    this.tracked.delete(tracked.id);
    this.tracked.set(tracked.id, tracked);
    while (this.tracked.size > MAX_TRACKED) {
      const oldest = this.tracked.keys().next().value as string;
      this.tracked.delete(oldest);
    }
  }

  /** See the file comment: the approximation of "shown" without the API proposal. */
  private approximateShown(document: vscode.TextDocument, position: vscode.Position, item: WispItem): void {
    const version = document.version;
    setTimeout(() => {
      const editor = vscode.window.activeTextEditor;
      const still =
        editor?.document === document &&
        document.version === version &&
        editor.selections.length === 1 &&
        editor.selection.isEmpty &&
        editor.selection.active.isEqual(position);
      if (still) {
        this.shown(item);
      }
    }, APPROXIMATE_SHOW_DELAY_MS);
  }

  private shown(item: vscode.InlineCompletionItem): void {
    const tracked = item instanceof WispItem ? item.tracked : undefined;
    if (!tracked || tracked.finished) {
      return;
    }
    this.lastShown = tracked;
    if (tracked.shown) {
      return;
    }
    tracked.shown = true;
    this.notify("textDocument/didShowCompletion", { item: tracked.wire });
  }

  private partiallyAccepted(item: vscode.InlineCompletionItem, acceptedLength: number | undefined): void {
    const tracked = item instanceof WispItem ? item.tracked : undefined;
    if (!tracked || tracked.finished || typeof acceptedLength !== "number") {
      return;
    }
    // The server takes the cumulative length; each length is reported once.
    if (acceptedLength <= tracked.acceptedLength) {
      return;
    }
    tracked.acceptedLength = acceptedLength;
    this.notify("textDocument/didPartiallyAcceptCompletion", {
      item: tracked.wire,
      acceptedLength: tracked.acceptedLength,
    });
  }

  /** The item's command: the user accepted the whole suggestion. */
  private async accepted(id: string): Promise<void> {
    const tracked = this.tracked.get(id);
    if (tracked) {
      if (tracked.finished) {
        return;
      }
      tracked.finished = true;
    }
    const client = this.client();
    if (!client?.isRunning()) {
      return;
    }
    try {
      await client.sendRequest("workspace/executeCommand", { command: "wisp.acceptCompletion", arguments: [id] });
    } catch (error) {
      this.log.appendLine(`wisp.acceptCompletion ${id} failed: ${error}`);
    }
  }

  private dismiss(tracked: Tracked | undefined, reason: string): void {
    if (!tracked || tracked.finished || !tracked.shown) {
      return;
    }
    tracked.finished = true;
    this.notify("wisp/didDismissCompletion", { id: tracked.id, reason });
  }

  private notify(method: string, params: unknown): void {
    const client = this.client();
    if (client?.isRunning()) {
      client.sendNotification(method, params).catch((error) => this.log.appendLine(`${method} failed: ${error}`));
    }
  }

  dispose(): void {
    for (const disposable of this.disposables) {
      disposable.dispose();
    }
  }
}
