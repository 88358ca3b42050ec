#!/usr/bin/env node
// Generates the extension's settings (package.json `contributes.configuration.properties`) from the
// server's configuration schema (`wisp config schema`): each leaf `<section>.<key>` becomes the
// setting `wisp.<section>.<key>` with its type, default, description and enum, plus the extension's
// own `wisp.server.path` and `wisp.server.args`.
//
//   node scripts/gen-settings.mjs [--wisp PATH | --schema FILE] [--check]
//
// The schema comes from `PATH config schema` (default: `wisp` on PATH) or from FILE. Without
// --check it rewrites package.json; with --check it exits 1 when package.json differs from what the
// schema gives (the test in tests/editors/vscode.rs runs it so the two cannot drift apart).

import { execFileSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const PACKAGE_JSON = join(dirname(fileURLToPath(import.meta.url)), "..", "package.json");

/** The extension's own settings: how it starts the server. They are never sent to the server. */
const EXTENSION_SETTINGS = {
  "wisp.server.path": {
    type: "string",
    default: "",
    description:
      "The wisp binary to run as `wisp serve` (empty: `wisp` on PATH). Build it with `cargo build --release` (target/release/wisp).",
  },
  "wisp.server.args": {
    type: "array",
    items: { type: "string" },
    default: [],
    description: "More arguments for `wisp serve`.",
  },
};

/** JSON Schema keywords VS Code's settings understand, copied as they are. */
const KEPT_KEYWORDS = ["minimum", "maximum", "minItems", "maxItems", "uniqueItems", "pattern"];

function parseArguments(argv) {
  const options = { wisp: "wisp", schema: undefined, check: false };
  for (let i = 0; i < argv.length; i++) {
    const argument = argv[i];
    if (argument === "--check") {
      options.check = true;
    } else if (argument === "--wisp") {
      options.wisp = argv[++i];
    } else if (argument === "--schema") {
      options.schema = argv[++i];
    } else {
      throw new Error(`unknown argument ${argument} — usage: gen-settings.mjs [--wisp PATH | --schema FILE] [--check]`);
    }
  }
  return options;
}

function readSchema(options) {
  if (options.schema) {
    return JSON.parse(readFileSync(options.schema, "utf8"));
  }
  const output = execFileSync(options.wisp, ["config", "schema"], { encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] });
  return JSON.parse(output);
}

/** The schema's types as a list ("integer", "null", ...); empty when it has none. */
function typesOf(schema) {
  if (Array.isArray(schema.type)) {
    return schema.type;
  }
  return schema.type ? [schema.type] : [];
}

/**
 * One value schema in the form VS Code takes: `anyOf`/`oneOf` of constants (schemars writes enums
 * with documented variants that way, and `Option<Enum>` as `anyOf [enum, null]`) becomes `enum`
 * with `enumDescriptions`; `format` and `title` are dropped; arrays keep their item schema.
 */
function convert(schema, where) {
  const choices = schema.anyOf ?? schema.oneOf;
  const setting = {};
  if (choices) {
    const values = [];
    const descriptions = [];
    const types = new Set();
    for (const choice of choices) {
      if (choice.const !== undefined) {
        values.push(choice.const);
        descriptions.push(unwrap(choice.description ?? ""));
        types.add(typeof choice.const === "string" ? "string" : typesOf(choice)[0] ?? "string");
      } else if (choice.enum) {
        for (const value of choice.enum) {
          values.push(value);
          descriptions.push(choice.description ?? "");
        }
        typesOf(choice).forEach((type) => types.add(type));
        if (!choice.type) {
          types.add("string");
        }
      } else if (typesOf(choice).length === 1 && typesOf(choice)[0] === "null") {
        values.push(null);
        descriptions.push("");
        types.add("null");
      } else {
        // A union of structured types: keep it as VS Code's own anyOf.
        return { anyOf: choices.map((inner) => convert(inner, where)), ...common(schema) };
      }
    }
    setting.type = types.size === 1 ? [...types][0] : [...types];
    setting.enum = values;
    if (descriptions.some((description) => description)) {
      setting.enumDescriptions = descriptions;
    }
  } else {
    const types = typesOf(schema);
    if (types.length === 0 && !schema.enum) {
      throw new Error(`${where}: the schema gives no type — ${JSON.stringify(schema)}`);
    }
    if (types.length > 0) {
      setting.type = types.length === 1 ? types[0] : types;
    }
    if (schema.enum) {
      setting.enum = schema.enum;
    }
    if (schema.items) {
      setting.items = convert(schema.items, `${where}[]`);
    }
    if (schema.properties) {
      setting.properties = Object.fromEntries(
        Object.entries(schema.properties).map(([key, inner]) => [key, convert(inner, `${where}.${key}`)]),
      );
      if (schema.required) {
        setting.required = schema.required;
      }
      if (schema.additionalProperties !== undefined) {
        setting.additionalProperties = schema.additionalProperties;
      }
    }
  }
  return { ...setting, ...common(schema) };
}

/** What every setting keeps: the range keywords, the default and the description. */
function common(schema) {
  const kept = {};
  for (const keyword of KEPT_KEYWORDS) {
    if (schema[keyword] !== undefined) {
      kept[keyword] = schema[keyword];
    }
  }
  if (schema.default !== undefined) {
    kept.default = schema.default;
  }
  if (schema.description !== undefined) {
    kept.description = unwrap(schema.description);
  }
  return kept;
}

/** A doc comment's wrapped lines joined into paragraphs (the settings UI wraps them itself). */
function unwrap(text) {
  return text
    .split(/\n{2,}/)
    .map((paragraph) => paragraph.replace(/\s*\n\s*/g, " "))
    .join("\n\n");
}

/** Whether a schema is a section: an object whose keys are settings of their own. */
function isSection(schema) {
  return typesOf(schema).includes("object") && schema.properties && !schema.anyOf && !schema.oneOf;
}

/** The settings of a section, `wisp.<path>.<key>`, in the schema's order. */
function settingsOf(schema, path, settings) {
  const defaults = schema.default ?? {};
  for (const [key, inner] of Object.entries(schema.properties)) {
    const name = `${path}.${key}`;
    if (isSection(inner)) {
      settingsOf(inner, name, settings);
      continue;
    }
    const setting = convert(inner, name);
    // A default given on the section (serde's container default) stands for the key's own.
    if (setting.default === undefined && defaults[key] !== undefined) {
      setting.default = defaults[key];
    }
    settings[name] = setting;
  }
  return settings;
}

export function generate(schema) {
  if (!isSection(schema)) {
    throw new Error("the configuration schema is not an object with properties — is this `wisp config schema`?");
  }
  return { ...settingsOf(schema, "wisp", {}), ...EXTENSION_SETTINGS };
}

function main() {
  const options = parseArguments(process.argv.slice(2));
  const properties = generate(readSchema(options));
  const text = readFileSync(PACKAGE_JSON, "utf8");
  const manifest = JSON.parse(text);
  manifest.contributes.configuration.properties = properties;
  const generated = `${JSON.stringify(manifest, null, 2)}\n`;
  if (options.check) {
    const current = JSON.stringify(JSON.parse(text).contributes.configuration.properties, null, 2);
    if (current !== JSON.stringify(properties, null, 2)) {
      console.error(
        "editors/vscode/package.json's settings differ from `wisp config schema` — run `node editors/vscode/scripts/gen-settings.mjs --wisp target/debug/wisp` and commit package.json",
      );
      const before = current.split("\n");
      const after = JSON.stringify(properties, null, 2).split("\n");
      const first = before.findIndex((line, index) => line !== after[index]);
      console.error(`first difference at line ${first + 1}:\n- ${before[first]}\n+ ${after[first]}`);
      process.exit(1);
    }
    console.log(`package.json's ${Object.keys(properties).length} settings match the schema`);
    return;
  }
  if (generated !== text) {
    writeFileSync(PACKAGE_JSON, generated);
  }
  console.log(`wrote ${Object.keys(properties).length} settings to ${PACKAGE_JSON}`);
}

main();
