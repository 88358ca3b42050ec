// Drives the Wisp extension in a real VS Code (code-server in headless Chromium, through
// puppeteer-core) as a user would: opens a Rust file, types on an indented empty line (or asks with
// Alt+\), waits for the real model's ghost text, reads it, presses Tab, saves, and checks that the
// text inserted is exactly the text that was shown (indentation included); accepts a word with
// Ctrl+Right, then the rest with Tab; dismisses a suggestion with Escape; then checks that the
// accepts, the partial accept and the dismissal reached the feedback store, and runs the prompt
// and statistics commands. Screenshots of each suggestion are left in SCRATCH.
// Run by tests/editors/vscode.rs with Node 24; prints one JSON line of results last.
//
// Environment: WISP (the wisp binary), VSIX (the packaged extension), TOOLS (the tools folder of
// tests/editors/vscode/install), SCRATCH (an empty folder for everything this run writes).

import { execFileSync, spawn } from "node:child_process";
import { createRequire } from "node:module";
import fs from "node:fs";
import path from "node:path";

const WISP = required("WISP");
const VSIX = required("VSIX");
const TOOLS = required("TOOLS");
const SCRATCH = required("SCRATCH");
const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";
/** The longest wait for any one condition (the first suggestion includes loading the model). */
const WAIT_MS = Number(process.env.WAIT_MS ?? 90_000);
/** The whole run's deadline: past it the driver fails, closing Chromium and code-server. */
const DEADLINE_MS = Number(process.env.DEADLINE_MS ?? 240_000);

const puppeteer = createRequire(path.join(TOOLS, "puppeteer", "node_modules", "x.js"))("puppeteer-core");
const CODE_SERVER = path.join(TOOLS, "code-server", "node_modules", "code-server", "out", "node", "entry.js");

const started = Date.now();
const timings = {};
const results = { cases: [] };

function required(name) {
  const value = process.env[name];
  if (!value) {
    throw new Error(`${name} is not set — the driver is run by tests/editors/vscode.rs`);
  }
  return value;
}

function note(message) {
  console.log(`[${((Date.now() - started) / 1000).toFixed(1)} s] ${message}`);
}

/** Polls `check` until it returns a truthy value, or fails after `timeoutMs` saying `what`. */
async function until(what, check, timeoutMs = WAIT_MS, intervalMs = 100) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) {
      return value;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

// The workspace: a Rust file with indented empty lines inside function bodies, one per case.
const FIXTURE = `struct Rectangle {
    width: u32,
    height: u32,
}

impl Rectangle {
    fn area(&self) -> u32 {
        
    }
}

fn sum(values: &[u32]) -> u32 {
    
}

fn main() {
    let rectangle = Rectangle { width: 3, height: 4 };
    println!("{}", rectangle.area());
    for value in [1, 2, 3] {
        
    }
    println!("{}", sum(&[1, 2, 3]));
    
}

fn print_all(values: &[u32]) {
    
}
`;

const dirs = {
  workspace: path.join(SCRATCH, "workspace"),
  userData: path.join(SCRATCH, "user-data"),
  extensions: path.join(SCRATCH, "extensions"),
  chromium: path.join(SCRATCH, "chromium-profile"),
  data: path.join(SCRATCH, "wisp-data"),
};
for (const dir of Object.values(dirs)) {
  fs.mkdirSync(dir, { recursive: true });
}
const source = path.join(dirs.workspace, "src", "main.rs");
fs.mkdirSync(path.dirname(source), { recursive: true });
fs.writeFileSync(source, FIXTURE);
fs.writeFileSync(path.join(dirs.workspace, "Cargo.toml"), '[package]\nname = "shapes"\nversion = "0.1.0"\nedition = "2021"\n');

// User settings: the real binary, recorded feedback, short suggestions, and nothing that pops up
// or competes with the ghost text. Every suggestion is shown whatever the model's confidence: the
// cases test what the editor inserts, and a small model is unsure of some of the lines typed here
// (`let d` → `ouble = 100;` at 0.21).
fs.mkdirSync(path.join(dirs.userData, "User"), { recursive: true });
fs.writeFileSync(
  path.join(dirs.userData, "User", "settings.json"),
  JSON.stringify(
    {
      "wisp.server.path": WISP,
      "wisp.telemetry.events": true,
      "wisp.completion.max_tokens": 24,
      "wisp.completion.min_confidence": 0,
      "security.workspace.trust.enabled": false,
      "workbench.startupEditor": "none",
      "workbench.welcomePage.walkthroughs.openOnInstall": false,
      "workbench.tips.enabled": false,
      "workbench.enableExperiments": false,
      "telemetry.telemetryLevel": "off",
      "update.mode": "none",
      "extensions.autoCheckUpdates": false,
      "extensions.autoUpdate": false,
      "extensions.ignoreRecommendations": true,
      "git.enabled": false,
      "files.trimTrailingWhitespace": false,
      "files.insertFinalNewline": false,
      "files.autoSave": "off",
      "editor.inlineSuggest.enabled": true,
      "editor.quickSuggestions": { other: false, comments: false, strings: false },
      "editor.suggestOnTriggerCharacters": false,
      "editor.wordBasedSuggestions": "off",
      "editor.parameterHints.enabled": false,
      "editor.autoClosingBrackets": "never",
      "editor.autoClosingQuotes": "never",
      "editor.formatOnType": false,
      "editor.minimap.enabled": false,
      "workbench.secondarySideBar.defaultVisibility": "hidden",
      "chat.commandCenter.enabled": false,
      // TRACE=1 logs every LSP message in the extension's log (user-data/logs/**/*Wisp.log).
      ...(process.env.TRACE ? { "wisp.trace.server": "verbose" } : {}),
    },
    null,
    2,
  ),
);
fs.writeFileSync(path.join(SCRATCH, "code-server.yaml"), "");

const codeServerArgs = (extra) => [
  CODE_SERVER,
  "--config",
  path.join(SCRATCH, "code-server.yaml"),
  "--user-data-dir",
  dirs.userData,
  "--extensions-dir",
  dirs.extensions,
  ...extra,
];

// Install the extension from the .vsix.
let time = Date.now();
execFileSync(process.execPath, codeServerArgs(["--install-extension", VSIX, "--force"]), {
  stdio: ["ignore", "pipe", "pipe"],
});
timings.installExtensionMs = Date.now() - time;
note(`installed ${path.basename(VSIX)} in ${timings.installExtensionMs} ms`);

// Start code-server on a free port; its log goes to code-server.log.
const logFile = path.join(SCRATCH, "code-server.log");
const log = fs.openSync(logFile, "w");
time = Date.now();
const codeServer = spawn(
  process.execPath,
  codeServerArgs([
    "--auth",
    "none",
    "--bind-addr",
    "127.0.0.1:0",
    "--disable-telemetry",
    "--disable-update-check",
    "--disable-workspace-trust",
    "--disable-getting-started-override",
    "--enable-proposed-api",
    "wisp.wisp",
    dirs.workspace,
  ]),
  {
    env: { ...process.env, WISP_DATA_DIR: dirs.data, RUST_LOG: process.env.RUST_LOG ?? "info" },
    stdio: ["ignore", log, log],
    detached: true,
  },
);
fs.writeFileSync(path.join(SCRATCH, "code-server.pid"), String(codeServer.pid));
let browser;
/** The workbench page, for a screenshot when something fails. */
let page;

async function cleanup() {
  if (browser) {
    await browser.close().catch(() => {});
  }
  try {
    process.kill(-codeServer.pid, "SIGTERM");
  } catch {
    // It has already ended.
  }
}

function codeServerUrl() {
  const text = fs.readFileSync(logFile, "utf8");
  const match = /HTTP server listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(text);
  return match?.[1];
}

/** What the ghost text looks like on screen: the cursor line as shown, and the lines below it. */
async function readGhost(page) {
  return page.evaluate(() => {
    const plain = (element) => element.textContent.replace(/\u00a0/g, " ");
    const editor = document.querySelector(".monaco-editor.focused") ?? document.querySelector(".editor-instance .monaco-editor");
    if (!editor) {
      return null;
    }
    // The part on the cursor's line is injected into that view line (one span per token); the
    // lines below are a view zone of their own lines.
    const inline = [...editor.querySelectorAll(".view-lines .ghost-text-decoration, .view-lines .ghost-text-decoration-preview")];
    const blockLines = [...editor.querySelectorAll(".suggest-preview-text .view-line, .ghost-text .view-line")]
      .sort((a, b) => a.getBoundingClientRect().top - b.getBoundingClientRect().top)
      .map(plain);
    if (inline.length === 0 && blockLines.length === 0) {
      return null;
    }
    // The view line that holds the inline part (null when the ghost text starts on the next line).
    const line = inline[0]?.closest(".view-line");
    return {
      line: line ? plain(line) : null,
      inline: inline.map(plain).join(""),
      blockLines,
    };
  });
}

/** The text of the status-bar item of Wisp. */
async function wispStatus(page) {
  return page.evaluate(() => {
    const items = [...document.querySelectorAll(".statusbar-item")];
    const wisp = items.find((item) => /Wisp/.test(item.textContent ?? ""));
    return wisp ? wisp.textContent.trim() : null;
  });
}

/** Runs a command of the palette by its title. */
async function runCommand(page, title) {
  await page.keyboard.press("F1");
  await page.waitForSelector(".quick-input-widget:not([style*='display: none']) input", { visible: true });
  await page.keyboard.type(`>${title}`);
  await until(`the command "${title}" in the palette`, () =>
    page.evaluate((title) => [...document.querySelectorAll(".quick-input-list .monaco-list-row")].some((row) => row.textContent.includes(title)), title),
  );
  await page.keyboard.press("Enter");
}

/** Moves the cursor to a 1-based line and column with Go to Line (Ctrl+G). */
async function goTo(page, line, column) {
  await page.keyboard.down("Control");
  await page.keyboard.press("g");
  await page.keyboard.up("Control");
  await page.waitForSelector(".quick-input-widget input", { visible: true });
  await page.keyboard.type(`${line}:${column}`);
  await page.keyboard.press("Enter");
  await until(`the cursor at ${line}:${column}`, async () => {
    const text = await page.evaluate(() => document.querySelector(".statusbar-item[id='status.editor.selection']")?.textContent ?? "");
    return text.includes(`Ln ${line}, Col ${column}`);
  });
}

async function save(page) {
  const before = fs.readFileSync(source, "utf8");
  await page.keyboard.down("Control");
  await page.keyboard.press("s");
  await page.keyboard.up("Control");
  return until("the file saved", () => {
    const text = fs.readFileSync(source, "utf8");
    return text !== before ? text : null;
  });
}

function wispStats() {
  const output = execFileSync(WISP, ["stats", "--json"], { env: { ...process.env, WISP_DATA_DIR: dirs.data }, encoding: "utf8" });
  const stats = JSON.parse(output);
  return stats.groups?.find((group) => group.key === "all") ?? stats.groups?.[0] ?? {};
}

/** Waits for ghost text, then for it to hold still (the model's answer, not an earlier one). */
async function steadyGhost(page, name) {
  let shown = await until(`${name}: ghost text`, () => readGhost(page));
  let stableSince = Date.now();
  await until(`${name}: ghost text holding still`, async () => {
    const now = await readGhost(page);
    if (JSON.stringify(now) !== JSON.stringify(shown)) {
      shown = now;
      stableSince = Date.now();
      return false;
    }
    return now && Date.now() - stableSince >= 500;
  });
  return shown;
}

/**
 * One case: on the indented empty line after the line `anchor`, type `typed` (or, when `invoke`,
 * ask for a suggestion with Alt+\\ without typing), wait for the ghost text and screenshot it. With
 * `finish` "Tab", accept it, save, and check the saved lines are exactly the lines shown; with
 * "Escape", dismiss it, and check nothing was inserted. Either way the line keeps the indentation
 * it had: a suggestion that repeats the indentation before the cursor would double it.
 */
async function suggestionCase(page, { name, anchor, typed = "", invoke = false, acceptWord = false, finish = "Tab" }) {
  const lines = fs.readFileSync(source, "utf8").split("\n");
  const anchorIndex = lines.findIndex((line) => line.includes(anchor));
  if (anchorIndex < 0 || lines[anchorIndex + 1].trim() !== "") {
    throw new Error(`${name}: no empty line after ${JSON.stringify(anchor)} in ${source}`);
  }
  const lineIndex = anchorIndex + 1;
  const indent = lines[lineIndex];
  await goTo(page, lineIndex + 1, indent.length + 1);
  const caseStarted = Date.now();
  if (invoke) {
    await page.keyboard.down("Alt");
    await page.keyboard.press("Backslash");
    await page.keyboard.up("Alt");
    note(`${name}: asked for a suggestion (Alt+\\)`);
  } else {
    await page.keyboard.type(typed, { delay: 60 });
    note(`${name}: typed ${JSON.stringify(typed)}`);
  }
  let shown = await steadyGhost(page, name);
  const ghostMs = Date.now() - caseStarted;
  note(`${name}: ghost text after ${ghostMs} ms: ${JSON.stringify(shown)}`);
  const screenshot = path.join(SCRATCH, `${name}.png`);
  await page.screenshot({ path: screenshot });
  let expectedLine = shown.line ?? indent + typed;
  if (!expectedLine.startsWith(indent + typed)) {
    throw new Error(`${name}: the line shown ${JSON.stringify(expectedLine)} does not start with what was typed ${JSON.stringify(indent + typed)}`);
  }
  let kept = indent + typed;
  if (acceptWord) {
    // Ctrl+Right takes the next word of the suggestion; the rest stays on screen.
    await page.keyboard.down("Control");
    await page.keyboard.press("ArrowRight");
    await page.keyboard.up("Control");
    kept = await until(`${name}: a word accepted`, () =>
      page.evaluate((before) => {
        const line = document.querySelector(".view-line .ghost-text-decoration")?.closest(".view-line");
        const text = line?.textContent.replace(/\u00a0/g, " ");
        const cursor = document.querySelector(".statusbar-item[id='status.editor.selection']")?.textContent ?? "";
        const column = Number(/Col (\d+)/.exec(cursor)?.[1] ?? 0);
        return column - 1 > before.length && text ? text.slice(0, column - 1) : null;
      }, kept),
    );
    note(`${name}: Ctrl+Right kept ${JSON.stringify(kept)}`);
    if (!expectedLine.startsWith(kept)) {
      throw new Error(`${name}: Ctrl+Right inserted ${JSON.stringify(kept)}, not a beginning of the line shown ${JSON.stringify(expectedLine)}`);
    }
    // The rest of the suggestion (or a new one for the new text) is what Tab inserts.
    shown = await steadyGhost(page, `${name} after Ctrl+Right`);
    expectedLine = shown.line ?? kept;
    note(`${name}: then shows ${JSON.stringify(shown)}`);
  }
  await page.keyboard.press(finish);
  if (finish === "Escape") {
    await until(`${name}: the ghost text gone after Escape`, async () => (await readGhost(page)) === null, 5_000);
  }
  const saved = (await save(page)).split("\n");
  const expected = finish === "Tab" ? [expectedLine, ...shown.blockLines] : [kept];
  const inserted = saved.slice(lineIndex, lineIndex + expected.length);
  const result = { name, typed, invoke, finish, shown: [expectedLine, ...shown.blockLines], expected, inserted, ghostMs, screenshot };
  results.cases.push(result);
  note(`${name}: after ${finish} the file holds ${JSON.stringify(inserted)}`);
  if (JSON.stringify(inserted) !== JSON.stringify(expected)) {
    throw new Error(`${name}: after ${finish} the file differs from the screen:\n  expected: ${JSON.stringify(expected)}\n  file:     ${JSON.stringify(inserted)}`);
  }
  const indentAfter = /^\s*/.exec(inserted[0])[0];
  if (inserted[0].trim() !== "" && indentAfter !== indent) {
    throw new Error(`${name}: the line's indentation changed from ${JSON.stringify(indent)} to ${JSON.stringify(indentAfter)}: ${JSON.stringify(inserted[0])}`);
  }
  // The rest of the file is unchanged: the lines after the suggestion are the old ones.
  const restBefore = lines.slice(lineIndex + 1);
  const restAfter = saved.slice(lineIndex + expected.length);
  if (JSON.stringify(restBefore) !== JSON.stringify(restAfter)) {
    throw new Error(`${name}: ${finish} changed the lines after the suggestion:\n  before: ${JSON.stringify(restBefore)}\n  after:  ${JSON.stringify(restAfter)}`);
  }
}

async function main() {
  const url = await until("code-server to listen", codeServerUrl, 60_000);
  timings.codeServerStartMs = Date.now() - time;
  note(`code-server at ${url}`);
  browser = await puppeteer.launch({
    executablePath: CHROMIUM,
    headless: true,
    userDataDir: dirs.chromium,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--no-first-run",
      "--window-size=1280,800",
    ],
    defaultViewport: { width: 1280, height: 800 },
  });
  page = await browser.newPage();
  page.setDefaultTimeout(WAIT_MS);
  page.on("pageerror", (error) => note(`page error: ${error.message}`));
  time = Date.now();
  await page.goto(`${url}/?folder=${encodeURIComponent(dirs.workspace)}`, { waitUntil: "domcontentloaded" });
  await page.waitForSelector(".monaco-workbench .part.statusbar", { visible: true });
  timings.workbenchMs = Date.now() - time;
  note(`workbench up after ${timings.workbenchMs} ms`);

  // Open src/main.rs with Quick Open.
  await page.keyboard.down("Control");
  await page.keyboard.press("p");
  await page.keyboard.up("Control");
  await page.waitForSelector(".quick-input-widget input", { visible: true });
  await page.keyboard.type("main.rs");
  await until("main.rs in Quick Open", () =>
    page.evaluate(() => [...document.querySelectorAll(".quick-input-list .monaco-list-row")].some((row) => row.textContent.includes("main.rs"))),
  );
  await page.keyboard.press("Enter");
  await page.waitForSelector(".editor-instance .monaco-editor .view-lines", { visible: true });
  await page.click(".editor-instance .monaco-editor .view-lines");

  // The server is up and its model loaded: the status bar names the model.
  const status = await until("Wisp's status bar item to name the model", async () => {
    const text = await wispStatus(page);
    return text && /Wisp: \S+/.test(text) ? text : null;
  });
  timings.modelReadyMs = Date.now() - time;
  results.status = status;
  note(`status bar: ${status}`);

  await suggestionCase(page, { name: "indented-line", anchor: "fn area(&self) -> u32 {", typed: "let w" });
  // After a space typed after code. (After `let total = ` the small model writes `0` without its
  // `;`, which does not parse before the `}` and is not shown.)
  await suggestionCase(page, { name: "after-space", anchor: "fn sum(values: &[u32]) -> u32 {", typed: "return " });
  await suggestionCase(page, { name: "invoked-blank-line", anchor: "for value in [1, 2, 3] {", invoke: true });
  await suggestionCase(page, { name: "word-then-tab", anchor: "sum(&[1, 2, 3])", typed: "let d", acceptWord: true });
  await suggestionCase(page, { name: "escape-dismisses", anchor: "fn print_all(values: &[u32]) {", typed: "let x", finish: "Escape" });

  // The four accepts reached the store, each exactly once, and the partial accept and the
  // dismissal too.
  let stats;
  try {
    await until("four accepts, a partial accept and a dismissal in the store (wisp stats --json)", () => {
      stats = wispStats();
      return stats.accepted >= 4 && stats.partially_accepted >= 1 && stats.dismissed >= 1;
    }, 15_000, 250);
  } catch (error) {
    throw new Error(`${error.message}; the store holds ${JSON.stringify(stats)}`);
  }
  results.stats = stats;
  note(`wisp stats: ${JSON.stringify({ completions: stats.completions, shown: stats.shown, accepted: stats.accepted, partially_accepted: stats.partially_accepted, dismissed: stats.dismissed })}`);
  if (stats.accepted !== 4) {
    throw new Error(`wisp stats counts ${stats.accepted} accepts for the 4 suggestions accepted`);
  }
  if (!(stats.shown >= 5)) {
    throw new Error(`wisp stats counts ${stats.shown} suggestions shown; at least the 5 of the cases were on screen`);
  }

  // The commands that ask the server: the prompt at the cursor opens beside the file, and the
  // statistics in a document of their own.
  await runCommand(page, "Wisp: Show the prompt at the cursor");
  const prompt = await until("the prompt document", () =>
    page.evaluate(() => {
      const editors = [...document.querySelectorAll(".editor-instance .monaco-editor .view-lines")];
      const text = editors.map((lines) => lines.textContent.replace(/\u00a0/g, " ")).find((text) => text.includes("# Wisp prompt for"));
      return text ?? null;
    }),
  );
  results.promptDocument = prompt.slice(0, 200);
  note(`the prompt document begins ${JSON.stringify(prompt.slice(0, 120))}`);
  await page.screenshot({ path: path.join(SCRATCH, "prompt.png") });
  await runCommand(page, "Wisp: Show suggestion statistics");
  const statsShown = await until("the statistics document", () =>
    page.evaluate((accepted) => {
      const editors = [...document.querySelectorAll(".editor-instance .monaco-editor .view-lines")];
      const texts = editors.map((lines) => [...lines.querySelectorAll(".view-line")].map((line) => line.textContent.replace(/\u00a0/g, " ")));
      return texts.flat().find((line) => line.startsWith("| all |") && line.split("|")[4]?.trim() === String(accepted)) ?? null;
    }, stats.accepted),
  );
  note(`the statistics document shows ${JSON.stringify(statsShown)}`);
  await page.screenshot({ path: path.join(SCRATCH, "stats.png") });
  timings.totalMs = Date.now() - started;
}

/** Records how the run ended, screenshots a failure, closes everything and exits. */
async function finish(error) {
  results.ok = !error;
  if (error) {
    results.error = String(error?.stack ?? error);
    console.error(results.error);
    if (page) {
      const screenshot = path.join(SCRATCH, "failure.png");
      await page.screenshot({ path: screenshot }).catch(() => {});
      results.failureScreenshot = screenshot;
      const statusBar = await page
        .evaluate(() => [...document.querySelectorAll(".statusbar-item")].map((item) => `${item.id}: ${item.textContent}`))
        .catch(() => []);
      console.error(`status bar: ${JSON.stringify(statusBar)}`);
    }
  }
  results.timings = timings;
  await cleanup();
  console.log(`RESULT ${JSON.stringify(results)}`);
  process.exit(results.ok ? 0 : 1);
}

setTimeout(() => finish(new Error(`the run took longer than ${DEADLINE_MS} ms`)), DEADLINE_MS).unref();
try {
  await main();
} catch (error) {
  await finish(error);
}
await finish();
