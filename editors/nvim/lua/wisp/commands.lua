-- The :Wisp* commands: :WispStatus, :WispStats [since] [by], :WispPrompt, :WispEnable and
-- :WispDisable. Figures and prompts open in a scratch buffer.

local util = require('wisp.util')

local M = {}

local api = vim.api

local function notify(message, level)
  vim.notify('wisp: ' .. message, level or vim.log.levels.INFO)
end

--- Opens `lines` in a new scratch buffer below, named `name`.
function M.scratch(name, lines, filetype)
  vim.cmd('botright new')
  local bufnr = api.nvim_get_current_buf()
  vim.bo[bufnr].buftype = 'nofile'
  vim.bo[bufnr].bufhidden = 'wipe'
  vim.bo[bufnr].swapfile = false
  pcall(api.nvim_buf_set_name, bufnr, name)
  api.nvim_buf_set_lines(bufnr, 0, -1, false, lines)
  vim.bo[bufnr].modifiable = false
  if filetype then
    vim.bo[bufnr].filetype = filetype
  end
  return bufnr
end

local function client_or_say()
  local bufnr = api.nvim_get_current_buf()
  local client = vim.lsp.get_clients({ bufnr = bufnr, name = 'wisp' })[1] or require('wisp').clients()[1]
  if not client then
    notify('not running — open a file of a supported language (or check :WispStatus)', vim.log.levels.WARN)
  end
  return client
end

--- The lines :WispStatus shows.
function M.status_lines()
  local wisp = require('wisp')
  local ghost = require('wisp.ghost')
  local lines = {}
  local clients = wisp.clients()
  local status = wisp.state.status
  local short = wisp.status():gsub('^wisp: ', '')
  lines[#lines + 1] = 'Wisp: ' .. (short ~= '' and short or 'not running')
  if status then
    lines[#lines + 1] = ('  %s%s: %s'):format(status.kind, status.busy and ' (busy)' or '', status.message)
  end
  for _, client in ipairs(clients) do
    lines[#lines + 1] = ('  client %d: %s in %s'):format(
      client.id,
      table.concat(client.config.cmd or {}, ' '),
      client.config.root_dir or '?'
    )
  end
  if #clients == 0 then
    lines[#lines + 1] = ('  command: %s'):format(table.concat(wisp.config.cmd, ' '))
  end
  lines[#lines + 1] = ('  suggestions: %s, %s'):format(
    wisp.state.enabled and 'on' or 'off (:WispEnable)',
    (wisp.config.native ~= false and require('wisp.native').available()) and 'native inline completion'
      or 'ghost text'
  )
  local last_error = wisp.state.last_error or ghost.last_error
  if last_error then
    lines[#lines + 1] = '  last error: ' .. last_error
  end
  return lines
end

local function percent(value)
  return value and ('%.1f%%'):format(value * 100) or '-'
end

local function ms(value)
  return value and ('%d ms'):format(math.floor(value + 0.5)) or '-'
end

--- The lines :WispStats shows for a `wisp/stats` answer.
function M.stats_lines(stats)
  local lines = { 'Wisp feedback stats (' .. (stats.database or '?') .. ')', '' }
  for _, group in ipairs(stats.groups or {}) do
    local interval = group.acceptance_interval or {}
    lines[#lines + 1] = group.key
    lines[#lines + 1] = ('  completions %d, shown %d, accepted %d, partially accepted %d, dismissed %d'):format(
      group.completions or 0,
      group.shown or 0,
      group.accepted or 0,
      group.partially_accepted or 0,
      group.dismissed or 0
    )
    lines[#lines + 1] = ('  acceptance %s (95%%: %s – %s), partial share %s'):format(
      percent(group.acceptance_rate),
      percent(interval[1]),
      percent(interval[2]),
      percent(group.partial_share)
    )
    lines[#lines + 1] = ('  latency p50 %s, p95 %s'):format(ms(group.latency_p50_ms), ms(group.latency_p95_ms))
    for after, kept in pairs(group.kept_ratio or {}) do
      lines[#lines + 1] = ('  kept after %ss: %s (n=%d)'):format(after, percent(kept.mean), kept.n or 0)
    end
  end
  if #(stats.groups or {}) == 0 then
    lines[#lines + 1] = 'nothing recorded yet'
  end
  for _, comparison in ipairs(stats.comparisons or {}) do
    lines[#lines + 1] = ('%s vs %s: %+.1f points%s'):format(
      comparison.variant,
      comparison.baseline,
      (comparison.difference or 0) * 100,
      comparison.significant and ' (significant)' or ''
    )
  end
  return lines
end

--- :WispStats [since] [by]: asks for `wisp/stats` and shows the figures.
function M.stats(since, by)
  local client = client_or_say()
  if not client then
    return
  end
  -- An empty Lua table would be sent as [], not {}.
  local params = vim.empty_dict()
  params.since, params.by = since, by
  util.request(client, 'wisp/stats', params, function(err, result)
    if err then
      notify('wisp/stats: ' .. (err.message or tostring(err)), vim.log.levels.ERROR)
      return
    end
    M.scratch('wisp://stats', M.stats_lines(result or {}))
  end)
end

--- The lines :WispPrompt shows for a `wisp/debugPrompt` answer.
function M.prompt_lines(prompt)
  local lines = {
    ('model %s, format %s, %s of %s prompt tokens'):format(
      prompt.model or '?',
      prompt.format or '?',
      tostring(prompt.nTokens or prompt.n_tokens or '?'),
      tostring(prompt.budgetTokens or prompt.budget_tokens or '?')
    ),
    '',
  }
  local snippets = prompt.snippets or {}
  lines[#lines + 1] = ('── snippets (%d) ──'):format(#snippets)
  for _, snippet in ipairs(snippets) do
    lines[#lines + 1] = ('── %s (%s)'):format(snippet.path or '?', snippet.origin or '?')
    vim.list_extend(lines, vim.split(snippet.text or '', '\n', { plain = true }))
  end
  lines[#lines + 1] = ''
  lines[#lines + 1] = '── prompt ──'
  vim.list_extend(lines, vim.split(prompt.prompt or '', '\n', { plain = true }))
  return lines
end

--- :WispPrompt: the prompt a suggestion at the cursor would use, with its snippets.
function M.prompt()
  local client = client_or_say()
  if not client then
    return
  end
  local bufnr = api.nvim_get_current_buf()
  local row, col = unpack(api.nvim_win_get_cursor(0))
  local line = api.nvim_buf_get_lines(bufnr, row - 1, row, false)[1] or ''
  local params = {
    textDocument = { uri = vim.uri_from_bufnr(bufnr) },
    position = { line = row - 1, character = util.character(line, col, client.offset_encoding) },
  }
  util.request(client, 'wisp/debugPrompt', params, function(err, result)
    if err then
      notify('wisp/debugPrompt: ' .. (err.message or tostring(err)), vim.log.levels.ERROR)
      return
    end
    M.scratch('wisp://prompt', M.prompt_lines(result or {}))
  end, bufnr)
end

function M.define()
  api.nvim_create_user_command('WispStatus', function()
    vim.notify(table.concat(M.status_lines(), '\n'), vim.log.levels.INFO)
  end, { desc = "Wisp: the server's status, model and last error" })
  api.nvim_create_user_command('WispStats', function(args)
    M.stats(args.fargs[1], args.fargs[2])
  end, {
    nargs = '*',
    desc = 'Wisp: feedback stats ([since, e.g. 7d] [by: model|language|variant|trigger])',
  })
  api.nvim_create_user_command('WispPrompt', M.prompt, { desc = 'Wisp: the prompt at the cursor' })
  api.nvim_create_user_command('WispEnable', function()
    require('wisp').enable()
  end, { desc = 'Wisp: suggestions on' })
  api.nvim_create_user_command('WispDisable', function()
    require('wisp').disable()
  end, { desc = 'Wisp: suggestions off' })
end

return M
