-- Ghost text for Neovim 0.10 and 0.11, which have no native inline completion: asks Wisp for
-- `textDocument/inlineCompletion` as you type, draws the first item with extmarks (the first line
-- inline at the cursor, the other lines below it), and accepts it whole, by word or by line. It
-- reports what happened to each suggestion (shown, accepted, partly accepted, dismissed) when the
-- item carries Wisp's accept command, which it does when `telemetry.events` is on.

local util = require('wisp.util')

local M = {}

local api = vim.api
local uv = vim.uv or vim.loop

--- The namespace of the suggestion's extmark.
M.ns = api.nvim_create_namespace('wisp.suggestion')

--- Settings, set by require('wisp').setup.
M.options = { debounce_ms = 75, auto_trigger = true }

--- Suggestions are requested only while this is true (:WispEnable / :WispDisable).
M.enabled = true

--- Counters for statuslines and tests: requests sent, answers drawn, answers dropped as stale.
M.counters = { requests = 0, drawn = 0, stale = 0 }

--- The last error a request answered with, for :WispStatus.
M.last_error = nil

-- The suggestion on screen: { bufnr, client_id, row, col, before, after, text, item,
-- accepted_utf16, extmark }. `text` is what is left to insert at (row, col); `before` and `after`
-- are the line's text on either side of the cursor when it was drawn.
local current = nil
-- The request in flight: { client, id, bufnr }.
local pending = nil
-- The debounce timer.
local timer = nil
-- Per buffer, the changedtick and cursor the event handler last saw.
local seen = {}

local group = api.nvim_create_augroup('wisp.ghost', { clear = true })

local function cursor()
  local position = api.nvim_win_get_cursor(0)
  return position[1] - 1, position[2]
end

local function line_at(bufnr, row)
  return api.nvim_buf_get_lines(bufnr, row, row + 1, false)[1] or ''
end

local function in_insert_mode()
  return api.nvim_get_mode().mode:sub(1, 1) == 'i'
end

local function client_for(bufnr)
  return vim.lsp.get_clients({ bufnr = bufnr, name = 'wisp' })[1]
end

local function client_by_id(id)
  local client = vim.lsp.get_client_by_id(id)
  if client and not util.is_stopped(client) then
    return client
  end
end

local function item_id(item)
  local command = item and item.command
  return command and command.arguments and command.arguments[1]
end

-- Remembers the buffer's state so the next TextChangedI/CursorMovedI sees no change of ours.
local function mark_seen(bufnr)
  local row, col = cursor()
  seen[bufnr] = { tick = api.nvim_buf_get_changedtick(bufnr), row = row, col = col }
end

local function cancel_pending()
  if pending then
    local client = client_by_id(pending.client_id)
    if client then
      util.cancel(client, pending.id)
    end
    pending = nil
  end
end

local function stop_timer()
  if timer then
    timer:stop()
  end
end

local function clear_extmark()
  if current and current.extmark and api.nvim_buf_is_valid(current.bufnr) then
    pcall(api.nvim_buf_del_extmark, current.bufnr, M.ns, current.extmark)
  end
end

-- Draws `current` at its position: the first line inline, the rest as virtual lines.
local function draw()
  clear_extmark()
  local lines = vim.split(current.text, '\n', { plain = true })
  local opts = { hl_mode = 'combine', virt_text_pos = 'inline' }
  if lines[1] ~= '' then
    opts.virt_text = { { lines[1], 'WispSuggestion' } }
  end
  if #lines > 1 then
    opts.virt_lines = {}
    for index = 2, #lines do
      -- An empty chunk list would draw nothing, not an empty line.
      opts.virt_lines[#opts.virt_lines + 1] = { { lines[index], 'WispSuggestion' } }
    end
  end
  current.extmark = api.nvim_buf_set_extmark(current.bufnr, M.ns, current.row, current.col, opts)
end

--- Whether a suggestion is on screen.
function M.visible()
  return current ~= nil
end

--- The text the suggestion on screen would insert, or nil.
function M.text()
  return current and current.text
end

--- Removes the suggestion on screen and, unless `reason` is nil, tells Wisp it was dismissed
--- (only a suggestion nothing of which was accepted). Returns whether one was on screen.
function M.dismiss(reason)
  if not current then
    return false
  end
  local dismissed = current
  clear_extmark()
  current = nil
  local id = item_id(dismissed.item)
  if reason and id and dismissed.accepted_utf16 == 0 then
    local client = client_by_id(dismissed.client_id)
    if client then
      util.notify(client, 'wisp/didDismissCompletion', { id = id, reason = reason })
    end
  end
  return true
end

-- Shows an answer's first item at (row, col), where the request was made.
local function show(client, bufnr, row, col, item)
  local text = item.insertText
  if type(text) == 'table' then
    text = text.value -- A snippet string: shown and inserted as written.
  end
  if type(text) ~= 'string' then
    return
  end
  local line = line_at(bufnr, row)
  -- An item whose range starts before the cursor repeats the text typed since; only the rest is
  -- new. Wisp's ranges are empty ranges at the cursor.
  local range = item.range
  if range and range.start.line == row then
    local start = util.byte_col(line, range.start.character, client.offset_encoding)
    if start < col then
      local typed = line:sub(start + 1, col)
      if text:sub(1, #typed) ~= typed then
        return
      end
      text = text:sub(#typed + 1)
    end
  end
  if text == '' then
    return
  end
  M.dismiss(nil)
  current = {
    bufnr = bufnr,
    client_id = client.id,
    row = row,
    col = col,
    before = line:sub(1, col),
    after = line:sub(col + 1),
    text = text,
    item = item,
    accepted_utf16 = 0,
  }
  draw()
  M.counters.drawn = M.counters.drawn + 1
  if item_id(item) then
    util.notify(client, 'textDocument/didShowCompletion', { item = item })
  end
end

--- Asks Wisp for a suggestion at the cursor now; `invoked` marks a manual trigger.
function M.request(invoked)
  local bufnr = api.nvim_get_current_buf()
  local client = client_for(bufnr)
  if not (M.enabled and client and in_insert_mode()) then
    return false
  end
  cancel_pending()
  local row, col = cursor()
  local line = line_at(bufnr, row)
  local tick = api.nvim_buf_get_changedtick(bufnr)
  local params = {
    textDocument = { uri = vim.uri_from_bufnr(bufnr) },
    position = { line = row, character = util.character(line, col, client.offset_encoding) },
    -- InlineCompletionTriggerKind: 1 Invoked, 2 Automatic.
    context = { triggerKind = invoked and 1 or 2 },
  }
  local token = { client_id = client.id, bufnr = bufnr }
  pending = token
  M.counters.requests = M.counters.requests + 1
  local ok, id = util.request(client, 'textDocument/inlineCompletion', params, function(err, result)
    if pending ~= token then
      return -- A newer request replaced this one.
    end
    pending = nil
    if err then
      M.last_error = err.message or tostring(err)
      return
    end
    local now_row, now_col = cursor()
    if
      api.nvim_get_current_buf() ~= bufnr
      or api.nvim_buf_get_changedtick(bufnr) ~= tick
      or now_row ~= row
      or now_col ~= col
      or not in_insert_mode()
      or not M.enabled
    then
      M.counters.stale = M.counters.stale + 1
      return
    end
    local items = result and (result.items or result) or {}
    if items[1] then
      show(client, bufnr, row, col, items[1])
    end
  end, bufnr)
  if ok then
    token.id = id
  elseif pending == token then
    pending = nil
  end
  return ok
end

-- Requests a suggestion after the debounce delay.
local function schedule_request()
  if not (M.enabled and M.options.auto_trigger) then
    return
  end
  timer = timer or uv.new_timer()
  timer:stop()
  timer:start(
    M.options.debounce_ms,
    0,
    vim.schedule_wrap(function()
      if current or not in_insert_mode() then
        return
      end
      M.request(false)
    end)
  )
end

--- Requests a suggestion now (the trigger key): always Invoked, replacing the one on screen.
function M.trigger()
  stop_timer()
  M.dismiss('explicit')
  return M.request(true) or true
end

-- Whether the line now reads as the suggestion's start typed in: the same text before and
-- after the cursor, with a prefix of the suggestion between them.
local function typed_through(bufnr, row, col)
  if not current or current.bufnr ~= bufnr or row ~= current.row or col < current.col then
    return nil
  end
  local line = line_at(bufnr, row)
  local typed = line:sub(current.col + 1, col)
  if
    line:sub(1, current.col) ~= current.before
    or line:sub(col + 1) ~= current.after
    or #typed >= #current.text
    or current.text:sub(1, #typed) ~= typed
  then
    return nil
  end
  return typed, line
end

-- TextChangedI and CursorMovedI: typing the suggestion's own text keeps the rest on screen
-- without a new request; anything else dismisses it and asks again after the debounce.
local function on_change(bufnr)
  local row, col = cursor()
  local tick = api.nvim_buf_get_changedtick(bufnr)
  local last = seen[bufnr]
  if last and last.tick == tick and last.row == row and last.col == col then
    return
  end
  local text_changed = not last or last.tick ~= tick
  seen[bufnr] = { tick = tick, row = row, col = col }
  if current then
    local typed, line = typed_through(bufnr, row, col)
    if typed and text_changed then
      current.text = current.text:sub(#typed + 1)
      current.col = col
      current.before = line:sub(1, col)
      draw()
      return
    end
    if typed == '' and not text_changed then
      return -- The cursor is where the suggestion is.
    end
    M.dismiss(text_changed and 'typed' or 'moved')
  end
  cancel_pending()
  schedule_request()
end

-- Inserts `text` at the suggestion's position and puts the cursor after it. The undo sequence
-- is broken first, so `u` takes back the accepted text alone.
local function insert(text)
  local bufnr, row, col = current.bufnr, current.row, current.col
  pcall(vim.cmd, 'let &g:undolevels = &g:undolevels')
  local lines = vim.split(text, '\n', { plain = true })
  api.nvim_buf_set_text(bufnr, row, col, row, col, lines)
  local end_row = row + #lines - 1
  local end_col = #lines == 1 and col + #lines[1] or #lines[#lines]
  api.nvim_win_set_cursor(0, { end_row + 1, end_col })
  mark_seen(bufnr)
  return end_row, end_col
end

-- The suggestion on screen, if the cursor is still where it is drawn.
local function at_cursor()
  if not current or api.nvim_get_current_buf() ~= current.bufnr then
    return nil
  end
  local row, col = cursor()
  if row ~= current.row or col ~= current.col then
    return nil
  end
  return current
end

--- Accepts the whole suggestion on screen. Returns false when there is none.
function M.accept()
  local suggestion = at_cursor()
  if not suggestion then
    return false
  end
  stop_timer()
  cancel_pending()
  clear_extmark()
  insert(suggestion.text)
  current = nil
  local client = client_by_id(suggestion.client_id)
  if client and suggestion.item.command then
    util.request(client, 'workspace/executeCommand', {
      command = suggestion.item.command.command,
      arguments = suggestion.item.command.arguments,
    }, function(err)
      if err then
        M.last_error = err.message
      end
    end, suggestion.bufnr)
  end
  -- Wisp computes the next suggestion right after an accept; ask for it.
  schedule_request()
  return true
end

--- The next word of `text`: a newline with the next line's indentation, else leading blanks and
--- a run of word characters (letters, digits, _, non-ASCII) or of other non-blank characters.
function M.next_word(text)
  return text:match('^\n[ \t]*')
    or text:match('^[ \t]*[%w_\128-\255]+')
    or text:match('^[ \t]*[^%w_\128-\255%s]+')
    or text:match('^[ \t]+')
    or text:sub(1, 1)
end

--- The next line of `text`: up to the end of its line, or, at a line end, the newline and the
--- next line.
function M.next_line(text)
  if text:sub(1, 1) == '\n' then
    return '\n' .. (text:sub(2):match('^[^\n]*'))
  end
  return text:match('^[^\n]*')
end

-- Accepts the part `pick` chooses of the suggestion on screen; the rest stays on screen.
local function accept_part(pick)
  local suggestion = at_cursor()
  if not suggestion then
    return false
  end
  local part = pick(suggestion.text)
  if part == '' or #part >= #suggestion.text then
    return M.accept()
  end
  stop_timer()
  cancel_pending()
  local row, col = insert(part)
  suggestion.text = suggestion.text:sub(#part + 1)
  suggestion.accepted_utf16 = suggestion.accepted_utf16 + util.utf16_len(part)
  local line = line_at(suggestion.bufnr, row)
  suggestion.row, suggestion.col = row, col
  suggestion.before, suggestion.after = line:sub(1, col), line:sub(col + 1)
  draw()
  local client = client_by_id(suggestion.client_id)
  if client and item_id(suggestion.item) then
    util.notify(client, 'textDocument/didPartiallyAcceptCompletion', {
      item = suggestion.item,
      acceptedLength = suggestion.accepted_utf16,
    })
  end
  return true
end

--- Accepts the next word of the suggestion on screen.
function M.accept_word()
  return accept_part(M.next_word)
end

--- Accepts the next line of the suggestion on screen.
function M.accept_line()
  return accept_part(M.next_line)
end

--- Stops suggesting in every buffer until M.enabled is set again.
function M.disable()
  M.enabled = false
  stop_timer()
  cancel_pending()
  M.dismiss('disabled')
end

--- Starts the ghost text in `bufnr`: the events that request, follow and clear suggestions.
function M.attach(bufnr)
  api.nvim_clear_autocmds({ group = group, buffer = bufnr })
  api.nvim_create_autocmd('InsertEnter', {
    group = group,
    buffer = bufnr,
    desc = 'Wisp: ask for a suggestion',
    callback = function()
      seen[bufnr] = nil
      schedule_request()
    end,
  })
  api.nvim_create_autocmd({ 'TextChangedI', 'TextChangedP', 'CursorMovedI' }, {
    group = group,
    buffer = bufnr,
    desc = 'Wisp: follow typing',
    callback = function()
      on_change(bufnr)
    end,
  })
  -- Leaving insert mode or the buffer drops the suggestion, reporting why.
  for event, reason in pairs({ InsertLeave = 'insertLeave', BufLeave = 'bufLeave' }) do
    api.nvim_create_autocmd(event, {
      group = group,
      buffer = bufnr,
      desc = 'Wisp: clear the suggestion',
      callback = function()
        stop_timer()
        cancel_pending()
        M.dismiss(reason)
      end,
    })
  end
end

--- Stops the ghost text in `bufnr`.
function M.detach(bufnr)
  pcall(api.nvim_clear_autocmds, { group = group, buffer = bufnr })
  if current and current.bufnr == bufnr then
    M.dismiss(nil)
  end
  seen[bufnr] = nil
end

return M
