-- Wisp for Neovim: starts `wisp serve` as a language server for the buffers of supported
-- languages, shows its inline suggestions as ghost text (natively on Neovim 0.12+, with extmarks on
-- 0.10 and 0.11), maps the keys that accept or dismiss them, keeps Wisp's status for a statusline,
-- and defines the :Wisp* commands.
--
--   require('wisp').setup({ cmd = { 'wisp', 'serve' }, settings = { completion = { max_tokens = 32 } } })

local util = require('wisp.util')
local ghost = require('wisp.ghost')

local M = {}

local api = vim.api

local defaults = {
  -- The command that starts the server.
  cmd = { 'wisp', 'serve' },
  -- Extra environment variables for the server (WISP_DATA_DIR, WISP_LOG, ...).
  cmd_env = nil,
  -- Wisp's settings (the tree of wisp.toml), or a function that returns them; sent as
  -- initializationOptions, and again with workspace/didChangeConfiguration by set_settings().
  settings = {},
  filetypes = {
    'rust',
    'python',
    'typescript',
    'typescriptreact',
    'javascript',
    'javascriptreact',
    'go',
    'c',
    'cpp',
    'java',
  },
  -- Files or folders that mark a workspace root, earlier ones first (searched upwards from the
  -- file); the current directory when none is found.
  root_markers = {
    'wisp.toml',
    '.git',
    'Cargo.toml',
    'package.json',
    'pyproject.toml',
    'setup.py',
    'go.mod',
    'pom.xml',
    'build.gradle',
    'compile_commands.json',
    'Makefile',
  },
  -- Milliseconds without typing before a suggestion is requested (0.10/0.11 ghost text).
  debounce_ms = 75,
  -- Request suggestions while typing; false: only with the trigger key.
  auto_trigger = true,
  -- nil: the native inline completion on 0.12+; false: Wisp's own ghost text everywhere (it has
  -- accept word/line, dismiss, trigger and the feedback events).
  native = nil,
  -- Insert-mode keys; false turns one off, a list maps several. Each falls back to the key's own
  -- meaning when no suggestion is on screen.
  keys = {
    accept = '<Tab>',
    accept_word = '<M-Right>',
    accept_line = '<M-Down>',
    dismiss = '<C-]>',
    trigger = '<M-\\>',
  },
}

M.config = vim.deepcopy(defaults)

--- What Wisp last said about itself (`didChangeStatus`), and the last error it reported.
M.state = {
  status = nil,
  last_error = nil,
  enabled = true,
}

local did_setup = false
local missing_notified = false

local function use_native()
  if M.config.native == false then
    return false
  end
  return require('wisp.native').available()
end

local function resolve_settings()
  local settings = M.config.settings
  if type(settings) == 'function' then
    settings = settings()
  end
  return settings or {}
end

--- The running Wisp clients.
function M.clients()
  return vim.lsp.get_clients({ name = 'wisp' })
end

local function notify(message, level)
  vim.notify('wisp: ' .. message, level or vim.log.levels.INFO)
end

local function on_status(_, params)
  if type(params) ~= 'table' then
    return
  end
  M.state.status = params
  if params.kind == 'Error' or params.kind == 'Warning' then
    if params.kind == 'Error' and M.state.last_error ~= params.message then
      notify(params.message, vim.log.levels.ERROR)
    end
    M.state.last_error = params.message
  end
  pcall(vim.cmd, 'redrawstatus')
  pcall(api.nvim_exec_autocmds, 'User', { pattern = 'WispStatus', modeline = false })
end

local function fallback(lhs)
  api.nvim_feedkeys(api.nvim_replace_termcodes(lhs, true, false, true), 'ni', false)
end

local function each_key(lhs, fn)
  if not lhs then
    return
  end
  for _, key in ipairs(type(lhs) == 'table' and lhs or { lhs }) do
    fn(key)
  end
end

-- Maps the insert-mode keys in `bufnr`.
local function map_keys(bufnr)
  local keys = vim.tbl_extend('force', defaults.keys, M.config.keys or {})
  if use_native() then
    local native = require('wisp.native')
    each_key(keys.accept, function(lhs)
      vim.keymap.set('i', lhs, function()
        if not native.accept(bufnr) then
          return lhs
        end
        return ''
      end, { buffer = bufnr, expr = true, replace_keycodes = true, desc = 'Wisp: accept the suggestion' })
    end)
    return
  end
  local actions = {
    { keys.accept, ghost.accept, 'accept the suggestion' },
    { keys.accept_word, ghost.accept_word, 'accept the next word of the suggestion' },
    { keys.accept_line, ghost.accept_line, 'accept the next line of the suggestion' },
    {
      keys.dismiss,
      function()
        return ghost.dismiss('explicit')
      end,
      'dismiss the suggestion',
    },
    { keys.trigger, ghost.trigger, 'ask for a suggestion' },
  }
  for _, action in ipairs(actions) do
    each_key(action[1], function(lhs)
      vim.keymap.set('i', lhs, function()
        if not action[2]() then
          fallback(lhs)
        end
      end, { buffer = bufnr, silent = true, desc = 'Wisp: ' .. action[3] })
    end)
  end
end

local function on_attach(client, bufnr)
  if use_native() then
    require('wisp.native').enable(M.state.enabled, bufnr)
  else
    ghost.attach(bufnr)
  end
  map_keys(bufnr)
end

--- Starts (or reuses) the Wisp client for `bufnr`. Returns the client id, or nil.
function M.start(bufnr)
  bufnr = (bufnr == nil or bufnr == 0) and api.nvim_get_current_buf() or bufnr
  if not M.state.enabled or vim.bo[bufnr].buftype ~= '' then
    return nil
  end
  local cmd = M.config.cmd
  if type(cmd) == 'string' then
    cmd = { cmd }
  end
  if vim.fn.executable(cmd[1]) ~= 1 then
    M.state.last_error = ('%q is not executable. Build it (cargo build --release in the Wisp repository), put '
      .. 'target/release/wisp on your PATH and fetch the model (wisp models fetch), or set '
      .. "cmd = { '/path/to/wisp', 'serve' } in require('wisp').setup()."):format(cmd[1])
    if not missing_notified then
      missing_notified = true
      notify(M.state.last_error, vim.log.levels.ERROR)
    end
    return nil
  end
  local root = vim.fs.root(bufnr, M.config.root_markers) or vim.fn.getcwd()
  local capabilities = vim.lsp.protocol.make_client_capabilities()
  capabilities.textDocument = capabilities.textDocument or {}
  capabilities.textDocument.inlineCompletion = capabilities.textDocument.inlineCompletion
    or { dynamicRegistration = false }
  return vim.lsp.start({
    name = 'wisp',
    cmd = cmd,
    cmd_env = M.config.cmd_env,
    root_dir = root,
    capabilities = capabilities,
    init_options = resolve_settings(),
    handlers = { didChangeStatus = on_status },
    on_attach = on_attach,
    on_exit = function(code, signal)
      if code ~= 0 then
        M.state.last_error = ('wisp serve exited with code %d (signal %d); see :lua vim.cmd.edit(vim.lsp.get_log_path())')
          :format(code, signal or 0)
        vim.schedule(function()
          notify(M.state.last_error, vim.log.levels.ERROR)
        end)
      end
      M.state.status = nil
    end,
  }, { bufnr = bufnr })
end

--- Replaces the settings (a table, or a function that returns one) and sends them to the
--- running servers with workspace/didChangeConfiguration. Without an argument it sends the
--- current ones again, calling the settings function anew.
function M.set_settings(settings)
  if settings ~= nil then
    M.config.settings = settings
  end
  local resolved = resolve_settings()
  for _, client in ipairs(M.clients()) do
    util.notify(client, 'workspace/didChangeConfiguration', { settings = { wisp = resolved } })
  end
end

--- A short status for a statusline: '' when Wisp is not running in this session.
function M.status()
  if not M.state.enabled then
    return 'wisp: off'
  end
  local status = M.state.status
  if #M.clients() == 0 then
    return M.state.last_error and 'wisp: error' or ''
  end
  if not status then
    return 'wisp: starting'
  end
  if status.kind == 'Error' then
    return 'wisp: error'
  elseif status.kind == 'Warning' then
    return 'wisp: warning'
  elseif status.kind == 'Inactive' then
    return 'wisp: inactive'
  end
  return status.busy and 'wisp: busy' or 'wisp: ready'
end

-- Starts Wisp in the already loaded buffers of a supported filetype.
local function start_loaded_buffers()
  for _, bufnr in ipairs(api.nvim_list_bufs()) do
    if api.nvim_buf_is_loaded(bufnr) and vim.tbl_contains(M.config.filetypes, vim.bo[bufnr].filetype) then
      M.start(bufnr)
    end
  end
end

--- Suggestions on again (:WispEnable); starts the client for open buffers.
function M.enable()
  M.state.enabled = true
  ghost.enabled = true
  if use_native() then
    require('wisp.native').enable(true)
  end
  start_loaded_buffers()
end

--- Suggestions off (:WispDisable); the server keeps running, so :WispStats still works.
function M.disable()
  M.state.enabled = false
  ghost.disable()
  if use_native() then
    require('wisp.native').enable(false)
  end
end

-- Ghost-text actions, for mappings of one's own (keys = { accept = false } and so on).
M.accept = ghost.accept
M.accept_word = ghost.accept_word
M.accept_line = ghost.accept_line
M.trigger = ghost.trigger
M.visible = ghost.visible
function M.dismiss()
  return ghost.dismiss('explicit')
end

function M.setup(opts)
  opts = opts or {}
  M.config = vim.tbl_deep_extend('force', vim.deepcopy(defaults), opts)
  -- Lists replace the defaults rather than merge with them by index.
  for _, key in ipairs({ 'cmd', 'filetypes', 'root_markers' }) do
    if opts[key] then
      M.config[key] = opts[key]
    end
  end
  if opts.settings ~= nil then
    M.config.settings = opts.settings
  end
  ghost.options = { debounce_ms = M.config.debounce_ms, auto_trigger = M.config.auto_trigger }

  api.nvim_set_hl(0, 'WispSuggestion', { link = 'Comment', default = true })
  local group = api.nvim_create_augroup('wisp', { clear = true })
  api.nvim_create_autocmd('ColorScheme', {
    group = group,
    callback = function()
      api.nvim_set_hl(0, 'WispSuggestion', { link = 'Comment', default = true })
    end,
  })
  api.nvim_create_autocmd('FileType', {
    group = group,
    pattern = M.config.filetypes,
    desc = 'Wisp: start the language server',
    callback = function(args)
      M.start(args.buf)
    end,
  })
  api.nvim_create_autocmd('LspDetach', {
    group = group,
    callback = function(args)
      local client = vim.lsp.get_client_by_id(args.data.client_id)
      if client and client.name == 'wisp' then
        ghost.detach(args.buf)
      end
    end,
  })
  require('wisp.commands').define()
  did_setup = true

  -- Buffers already open when setup runs.
  start_loaded_buffers()
end

--- Whether setup() ran.
function M.is_setup()
  return did_setup
end

return M
