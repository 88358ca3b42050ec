// The status-bar item: the server's `didChangeStatus { kind, message, busy }` shown as the model and
// device it runs on, a spinner while it works, and errors with their fix. Clicking it opens the
// menu of Wisp's commands.

import * as vscode from "vscode";

/** The server's status notification (Copilot-compatible). */
export interface ServerStatus {
  kind: "Normal" | "Warning" | "Error" | "Inactive" | string;
  message: string;
  busy: boolean;
}

/** "smollm2-135m-instruct-q4_1 loaded in 812 ms on CPU" -> the model and the device. */
export function modelAndDevice(message: string): { model?: string; device?: string } {
  const loaded = /^(\S+) loaded\b.*? on (.+?)\.?$/.exec(message.trim());
  if (loaded) {
    return { model: loaded[1], device: loaded[2] };
  }
  return {};
}

export class StatusItem implements vscode.Disposable {
  private readonly item: vscode.StatusBarItem;
  private status: ServerStatus = { kind: "Inactive", message: "starting", busy: false };
  private enabled = true;
  private model?: string;
  private device?: string;
  private lastErrorShown?: string;

  constructor() {
    this.item = vscode.window.createStatusBarItem("wisp.status", vscode.StatusBarAlignment.Right, 100);
    this.item.name = "Wisp";
    this.item.command = "wisp.showMenu";
    this.render();
    this.item.show();
  }

  /** The server's `didChangeStatus`. */
  update(status: ServerStatus): void {
    this.status = status;
    const { model, device } = modelAndDevice(status.message);
    if (model) {
      this.model = model;
      this.device = device;
    }
    if (status.kind === "Error" && status.message !== this.lastErrorShown) {
      // An error says what to do about it; it is shown once per distinct message.
      this.lastErrorShown = status.message;
      void vscode.window.showErrorMessage(`Wisp: ${status.message}`, "Show menu").then((choice) => {
        if (choice) {
          void vscode.commands.executeCommand("wisp.showMenu");
        }
      });
    }
    this.render();
  }

  /** `wisp.completion.enabled`. */
  setEnabled(enabled: boolean): void {
    this.enabled = enabled;
    this.render();
  }

  /** The extension could not start the server (e.g. the binary is missing). */
  failed(message: string): void {
    this.status = { kind: "Error", message, busy: false };
    this.lastErrorShown = message;
    this.render();
  }

  private render(): void {
    const { kind, message, busy } = this.status;
    const label = this.model ? `Wisp: ${this.model}${this.device ? ` (${this.device})` : ""}` : "Wisp";
    let icon = "$(sparkle)";
    if (busy) {
      icon = "$(sync~spin)";
    } else if (kind === "Error") {
      icon = "$(error)";
    } else if (kind === "Warning") {
      icon = "$(warning)";
    } else if (kind === "Inactive" || !this.enabled) {
      icon = "$(circle-slash)";
    }
    this.item.text = `${icon} ${label}${this.enabled ? "" : " (off)"}`;
    const tooltip = new vscode.MarkdownString();
    tooltip.appendText(`Wisp — ${kind}${busy ? ", working" : ""}${this.enabled ? "" : ", suggestions off"}\n\n`);
    tooltip.appendText(message);
    this.item.tooltip = tooltip;
    this.item.backgroundColor =
      kind === "Error"
        ? new vscode.ThemeColor("statusBarItem.errorBackground")
        : kind === "Warning"
          ? new vscode.ThemeColor("statusBarItem.warningBackground")
          : undefined;
  }

  dispose(): void {
    this.item.dispose();
  }
}
