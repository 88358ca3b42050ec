-- The Neovim client's end-to-end test driver, run by tests/editors/nvim.rs in a real headless
-- Neovim with editors/nvim on the runtimepath and the real `wisp serve`:
--
--   nvim --headless --clean -n --cmd 'set rtp+=editors/nvim' -c 'luafile tests/editors/nvim/test.lua'
--
-- It types into a Rust file with nvim_feedkeys (the steps run in a coroutine that sleeps on
-- timers, so Neovim's main loop processes the keys and fires the insert-mode events in between),
-- reads the suggestion back from its extmark, presses the plugin's keys, and checks that the
-- buffer then holds exactly what was shown. At the end it asks Wisp for `wisp/stats` to check the
-- feedback events arrived. It exits with 0 when everything held, else `cquit 1`; it writes what it
-- saw to $WISP_NVIM_LOG.
--
-- Environment: WISP_BIN (the wisp binary), WISP_TEST_FILE (the Rust file to open, with an
-- indented blank line in a function body), WISP_NVIM_LOG (the log file), WISP_NVIM_TIMEOUT_S.

local api = vim.api
local uv = vim.uv or vim.loop

local wisp_bin = assert(os.getenv('WISP_BIN'), 'WISP_BIN is not set')
local test_file = assert(os.getenv('WISP_TEST_FILE'), 'WISP_TEST_FILE is not set')
local log_path = os.getenv('WISP_NVIM_LOG') or 'nvim-test.log'
local timeout_s = tonumber(os.getenv('WISP_NVIM_TIMEOUT_S') or '') or 300

local started = uv.hrtime()
local log_file = assert(io.open(log_path, 'w'))

local function elapsed()
  return (uv.hrtime() - started) / 1e9
end

-- A %q argument is written with vim.inspect, which keeps a newline as \n on the same line.
local function log(format, ...)
  local args, index = { ... }, 0
  format = format:gsub('%%[-%d.]*(%a)', function(conversion)
    index = index + 1
    if conversion == 'q' then
      args[index] = vim.inspect(args[index])
      return '%s'
    end
  end)
  local line = ('[%7.2fs] '):format(elapsed()) .. format:format(unpack(args, 1, select('#', ...)))
  log_file:write(line, '\n')
  log_file:flush()
end

local finished = false

local function finish(code)
  if finished then
    return
  end
  finished = true
  log(code == 0 and 'PASS' or 'FAIL')
  log_file:close()
  if code == 0 then
    vim.cmd('qall!')
  else
    vim.cmd('cquit ' .. code)
  end
end

local function fail(message)
  if finished then
    return
  end
  log('FAIL: %s', message)
  local ok, lines = pcall(api.nvim_buf_get_lines, 0, 0, -1, false)
  if ok then
    log('buffer now:\n%s', table.concat(lines, '\n'))
  end
  finish(1)
end

local function check(condition, format, ...)
  if not condition then
    error(format:format(...), 0)
  end
end

-- The steps run in this coroutine; sleep() hands control back to Neovim's main loop.
local co

local function resume(...)
  if finished then
    return
  end
  local ok, err = coroutine.resume(co, ...)
  if not ok then
    fail(debug.traceback(co, tostring(err)))
  end
end

local function sleep(ms)
  vim.defer_fn(function()
    resume()
  end, ms)
  coroutine.yield()
end

local function wait_for(predicate, timeout_ms, what)
  local deadline = uv.now() + timeout_ms
  while true do
    local value = predicate()
    if value then
      return value
    end
    if uv.now() > deadline then
      error(('timed out after %d ms waiting for %s'):format(timeout_ms, what), 0)
    end
    sleep(25)
  end
end

-- Keys as a user types them: mappings apply.
local function feed(keys)
  api.nvim_feedkeys(api.nvim_replace_termcodes(keys, true, false, true), 'mt', false)
end

local function type_text(text, gap_ms)
  for char in text:gmatch('[%z\1-\127\194-\244][\128-\191]*') do
    feed(char)
    sleep(gap_ms or 60)
  end
end

local function cursor()
  local position = api.nvim_win_get_cursor(0)
  return position[1] - 1, position[2]
end

local function mode()
  return api.nvim_get_mode().mode
end

local function lines()
  return api.nvim_buf_get_lines(0, 0, -1, false)
end

local function tick()
  return api.nvim_buf_get_changedtick(0)
end

-- The suggestion on screen, read back from the extmark the plugin drew: its position and its
-- text (the inline virtual text, then each virtual line after a newline).
local function shown()
  local ns = api.nvim_get_namespaces()['wisp.suggestion']
  if not ns then
    return nil
  end
  local marks = api.nvim_buf_get_extmarks(0, ns, 0, -1, { details = true })
  if #marks == 0 then
    return nil
  end
  check(#marks == 1, 'one suggestion extmark expected, found %d', #marks)
  local _, row, col, details = unpack(marks[1])
  local function chunks_text(chunks)
    local parts = {}
    for _, chunk in ipairs(chunks or {}) do
      parts[#parts + 1] = chunk[1]
    end
    return table.concat(parts)
  end
  local text = chunks_text(details.virt_text)
  if details.virt_text then
    check(details.virt_text_pos == 'inline', 'the first line is drawn inline, not %s', tostring(details.virt_text_pos))
    check(details.virt_text[1][2] == 'WispSuggestion', 'ghost text highlighted with WispSuggestion')
  end
  for _, virt_line in ipairs(details.virt_lines or {}) do
    text = text .. '\n' .. chunks_text(virt_line)
  end
  return { row = row, col = col, text = text }
end

-- The suggestion on screen at the cursor, in insert mode.
local function shown_at_cursor()
  if mode():sub(1, 1) ~= 'i' then
    return nil
  end
  local suggestion = shown()
  local row, col = cursor()
  if suggestion and suggestion.row == row and suggestion.col == col then
    return suggestion
  end
end

-- How the screen line(s) read with the suggestion drawn: the buffer text with the ghost text
-- in ⟦ ⟧ at the cursor.
local function screen(suggestion)
  local line = api.nvim_buf_get_lines(0, suggestion.row, suggestion.row + 1, false)[1]
  local text = line:sub(1, suggestion.col) .. '⟦' .. suggestion.text .. '⟧' .. line:sub(suggestion.col + 1)
  return text
end

-- The buffer `before` with `text` inserted at (row, col), as lines.
local function with_inserted(before, row, col, text)
  local expected = {}
  for index = 1, row do
    expected[#expected + 1] = before[index]
  end
  local line = before[row + 1]
  local inserted = vim.split(line:sub(1, col) .. text .. line:sub(col + 1), '\n', { plain = true })
  vim.list_extend(expected, inserted)
  for index = row + 2, #before do
    expected[#expected + 1] = before[index]
  end
  return expected
end

local function same_lines(actual, expected)
  if #actual ~= #expected then
    return false
  end
  for index = 1, #actual do
    if actual[index] ~= expected[index] then
      return false
    end
  end
  return true
end

local function check_buffer(expected, what)
  local actual = lines()
  if not same_lines(actual, expected) then
    error(
      ('%s: the buffer differs from what was shown.\nexpected:\n%s\nactual:\n%s'):format(
        what,
        table.concat(expected, '\n'),
        table.concat(actual, '\n')
      ),
      0
    )
  end
end

-- One word of a suggestion, as a user reads it: optional blanks and a run of word characters or
-- of other non-blank characters, or a newline with the next line's indentation.
local function is_one_word(part, rest)
  if part:match('^\n[ \t]*$') then
    return true
  end
  local word = part:match('^[ \t]*([%w_\128-\255]+)$')
  if word then
    return not rest:match('^[%w_\128-\255]')
  end
  local symbols = part:match('^[ \t]*([^%w_\128-\255%s]+)$')
  if symbols then
    return not rest:match('^[^%w_\128-\255%s]')
  end
  return false
end

local function to_normal_mode()
  feed('<Esc>')
  wait_for(function()
    return mode() == 'n'
  end, 2000, 'normal mode')
end

-- The 0-based row of the first line matching `pattern`.
local function find_line(pattern)
  for index, line in ipairs(lines()) do
    if line:match(pattern) then
      return index - 1
    end
  end
  error(('no line matches %q'):format(pattern), 0)
end

-- Presses <Tab> on `suggestion` (on screen at the cursor) and checks the buffer then holds exactly
-- the text shown, at the cursor, with the cursor after it, still in insert mode.
local function accept_with_tab(suggestion, label)
  local before, before_tick = lines(), tick()
  feed('<Tab>')
  wait_for(function()
    return tick() ~= before_tick
  end, 5000, '<Tab> to insert the suggestion')
  sleep(50)
  check_buffer(with_inserted(before, suggestion.row, suggestion.col, suggestion.text), label .. ' <Tab>')
  local inserted = vim.split(suggestion.text, '\n', { plain = true })
  local end_row = suggestion.row + #inserted - 1
  local end_col = #inserted == 1 and suggestion.col + #inserted[1] or #inserted[#inserted]
  local row, col = cursor()
  check(row == end_row and col == end_col, 'cursor after the accepted text: expected %d:%d, at %d:%d', end_row, end_col, row, col)
  check(mode():sub(1, 1) == 'i', 'still in insert mode after <Tab>, mode %s', mode())
  log('%s <Tab> inserted it exactly; lines %d-%d now:\n%s', label, suggestion.row + 1, end_row + 1,
    table.concat(api.nvim_buf_get_lines(0, suggestion.row, end_row + 1, false), '\n'))
end

-- Sends an LSP request from inside the coroutine and waits for its answer.
local function request(client, method, params)
  local me = coroutine.running()
  local answer
  local ok = client:request(method, params, function(err, result)
    answer = { err = err, result = result }
    vim.schedule(function()
      if coroutine.status(me) == 'suspended' then
        resume()
      end
    end)
  end, 0)
  check(ok, '%s could not be sent', method)
  while not answer do
    coroutine.yield()
  end
  return answer.err, answer.result
end

local function steps()
  log('nvim %s, wisp %s, file %s', tostring(vim.version()), wisp_bin, test_file)
  -- No "-- INSERT --" on stdout.
  vim.o.showmode = false
  local wisp = require('wisp')
  local ghost = require('wisp.ghost')
  wisp.setup({
    cmd = { wisp_bin, 'serve' },
    settings = { telemetry = { events = true }, completion = { max_tokens = 24 } },
  })
  api.nvim_create_autocmd('User', {
    pattern = 'WispStatus',
    callback = function()
      local status = wisp.state.status or {}
      log('status: %s%s %s', status.kind, status.busy and ' (busy)' or '', status.message)
    end,
  })

  vim.cmd.edit(vim.fn.fnameescape(test_file))
  check(vim.bo.filetype == 'rust', 'filetype rust expected, got %q', vim.bo.filetype)
  local client = wait_for(function()
    local found = vim.lsp.get_clients({ bufnr = 0, name = 'wisp' })[1]
    return found and found.initialized and found.server_capabilities and found
  end, 60000, 'the wisp client to start and initialize')
  log('client %d initialized, root %s, offset encoding %s', client.id, client.config.root_dir, client.offset_encoding)

  -- 1. An indented blank line in a function body: the suggestion that comes on entering insert
  -- mode, accepted whole with <Tab>.
  local blank_row = find_line('^[ \t]+$')
  local indent = lines()[blank_row + 1]
  api.nvim_win_set_cursor(0, { blank_row + 1, 0 })
  feed('A')
  local step = uv.now()
  local first = wait_for(shown_at_cursor, 240000, 'the first suggestion (model load and prompt)')
  log('1. shown after %d ms at %d:%d: %q', uv.now() - step, first.row, first.col, first.text)
  log('   screen: %s', screen(first))
  check(first.row == blank_row and first.col == #indent, 'the ghost text sits at the end of the indentation')
  check(
    not first.text:match('^[ \t]'),
    'a suggestion after the indentation of a blank line starts with whitespace %q: the indentation is written twice',
    first.text:match('^[ \t]*')
  )
  accept_with_tab(first, '1.')

  -- 2. At the end of a line that opens a block (`fn main() {`): the suggestion is the block's body,
  -- over several lines (the model decides; the log says), accepted whole with <Tab>. (After
  -- `match n {` SmolLM2 writes arms such as `(1 << 0) => "1",`, which are not Rust patterns: the
  -- syntax check rightly shows nothing there.)
  to_normal_mode()
  api.nvim_win_set_cursor(0, { find_line('^fn main%(%) {$') + 1, 0 })
  feed('A')
  step = uv.now()
  local block = wait_for(shown_at_cursor, 120000, 'a suggestion after a block opener')
  local block_lines = #vim.split(block.text, '\n', { plain = true })
  log('2. shown after %d ms at %d:%d, %d lines: %q', uv.now() - step, block.row, block.col, block_lines, block.text)
  log('   screen: %s', screen(block))
  accept_with_tab(block, '2.')

  -- 3. A new line in main(), typing `let total = `; then <M-Right> accepts one word of the
  -- suggestion. (After `let ` alone the small model names a variable and opens a block that would
  -- swallow the `println!` below: that does not parse, and is not shown.)
  to_normal_mode()
  api.nvim_win_set_cursor(0, { find_line('^%s*let counts = word_counts') + 1, 0 })
  feed('o')
  sleep(100)
  type_text('let total = ')
  step = uv.now()
  local second = wait_for(shown_at_cursor, 120000, 'a suggestion after typing')
  log('3. shown after %d ms at %d:%d: %q', uv.now() - step, second.row, second.col, second.text)
  log('   screen: %s', screen(second))
  local before, before_tick = lines(), tick()
  feed('<M-Right>')
  wait_for(function()
    return tick() ~= before_tick
  end, 5000, '<M-Right> to insert a word')
  sleep(50)
  local row, col = cursor()
  local word
  if row == second.row then
    word = lines()[row + 1]:sub(second.col + 1, col)
  else
    word = '\n' .. lines()[row + 1]:sub(1, col)
  end
  local rest = second.text:sub(#word + 1)
  check(second.text:sub(1, #word) == word, 'the word %q is the start of the suggestion %q', word, second.text)
  check(#word > 0 and #rest > 0, 'one word of %q accepted, not %q (choose text whose suggestion has two words)', second.text, word)
  check(is_one_word(word, rest), '%q is one word of %q', word, second.text)
  check_buffer(with_inserted(before, second.row, second.col, word), '<M-Right>')
  local remaining = wait_for(shown_at_cursor, 1000, 'the rest of the suggestion after the word')
  check(remaining.text == rest, 'the rest %q still shown after the word, not %q', rest, remaining.text)
  log('3. <M-Right> inserted %q; still shown: %q', word, remaining.text)

  -- 4. Typing the suggestion's next character keeps the rest on screen without a new request.
  local next_char = rest:match('^[^\n][\128-\191]*')
  if next_char and #next_char < #rest then
    local requests = ghost.counters.requests
    before = lines()
    type_text(next_char, 150)
    local after_typing = wait_for(shown_at_cursor, 2000, 'the suggestion to follow the typed character')
    check(
      after_typing.text == rest:sub(#next_char + 1),
      'after typing %q the rest %q is shown, not %q',
      next_char,
      rest:sub(#next_char + 1),
      after_typing.text
    )
    check(ghost.counters.requests == requests, 'typing the suggestion sent no request (%d sent)', ghost.counters.requests - requests)
    log('4. typed %q: still shown %q, no new request', next_char, after_typing.text)
  else
    log('4. the rest starts a new line or is one character; typing through not checked')
  end

  -- 5. <C-]> dismisses; <M-\> asks again (Invoked); <C-]> dismisses that one.
  before, before_tick = lines(), tick()
  feed('<C-]>')
  wait_for(function()
    return shown() == nil
  end, 2000, '<C-]> to clear the suggestion')
  sleep(50)
  check_buffer(before, '<C-]>')
  log('5. <C-]> cleared it')
  local drawn = ghost.counters.drawn
  feed('<M-\\>')
  step = uv.now()
  local triggered = wait_for(function()
    return ghost.counters.drawn > drawn and shown_at_cursor()
  end, 120000, 'a suggestion after the trigger key')
  log('5. <M-\\> brought %q after %d ms', triggered.text, uv.now() - step)
  feed('<C-]>')
  wait_for(function()
    return shown() == nil
  end, 2000, '<C-]> to clear the triggered suggestion')
  sleep(50)
  check_buffer(before, '<M-\\> and <C-]>')
  log('5. <C-]> cleared it; the buffer is as before')

  to_normal_mode()

  -- 6. The events reached Wisp's store.
  local err, stats = request(client, 'wisp/stats', vim.empty_dict())
  check(not err, 'wisp/stats failed: %s', vim.inspect(err))
  log('6. wisp/stats: %s', vim.json.encode(stats))
  local all = (stats.groups or {})[1]
  check(all, 'wisp/stats has a group')
  check(all.shown >= 2, 'shown >= 2 recorded, got %d', all.shown)
  check(all.accepted >= 1, 'accepted >= 1 recorded, got %d', all.accepted)
  check(all.partially_accepted >= 1, 'partially accepted >= 1 recorded, got %d', all.partially_accepted)
  check(all.dismissed >= 1, 'dismissed >= 1 recorded, got %d', all.dismissed)
  log('6. recorded: shown %d, accepted %d, partially accepted %d, dismissed %d', all.shown, all.accepted, all.partially_accepted, all.dismissed)
  log('status line: %s', wisp.status())

  -- 7. A code action the way a user picks it (vim.lsp.buf.code_action, which resolves the action
  -- and applies its edit): "document main" on main's first line adds a /// comment above it and
  -- changes nothing else.
  -- On the file as it was opened: the steps above leave half-typed lines in main (`let total =
  -- count_to_bytes(`), and a user documents a function that is written.
  to_normal_mode()
  api.nvim_buf_set_lines(0, 0, -1, false, vim.fn.readfile(test_file))
  sleep(200)
  local main_row = find_line('^fn main')
  api.nvim_win_set_cursor(0, { main_row + 1, 4 })
  local listed_err, listed = request(client, 'textDocument/codeAction', vim.tbl_extend('force',
    vim.lsp.util.make_range_params(0, client.offset_encoding), { context = { diagnostics = {} } }))
  check(not listed_err, 'textDocument/codeAction failed: %s', vim.inspect(listed_err))
  local titles = vim.tbl_map(function(action) return action.title end, listed or {})
  log('7. actions on fn main: %s', table.concat(titles, ', '))
  check(vim.tbl_contains(titles, 'Wisp: document main'), 'document main is offered')
  before = lines()
  local changed = tick()
  vim.lsp.buf.code_action({
    apply = true,
    filter = function(action) return action.title == 'Wisp: document main' end,
  })
  wait_for(function() return tick() ~= changed end, 120000, 'the document action to be applied')
  sleep(100)
  local after = lines()
  local added = #after - #before
  check(added >= 1, 'the action added lines (%d)', added)
  for index = 1, added do
    check(after[main_row + index]:match('^/// %S'), 'line %d is a doc comment: %q', main_row + index, after[main_row + index])
  end
  check(after[main_row + added + 1] == before[main_row + 1], 'fn main() follows the comment')
  check(same_lines(vim.list_slice(after, 1, main_row), vim.list_slice(before, 1, main_row)), 'lines above unchanged')
  log('7. applied: %q', table.concat(vim.list_slice(after, main_row + 1, main_row + added), '\n'))

  client:stop()
  wait_for(function()
    return client:is_stopped()
  end, 10000, 'the wisp client to stop')
  log('client stopped')
  finish(0)
end

vim.defer_fn(function()
  fail(('the test did not finish within %d s'):format(timeout_s))
end, timeout_s * 1000)

co = coroutine.create(function()
  local ok, err = xpcall(steps, debug.traceback)
  if not ok then
    fail(err)
  end
end)
vim.schedule(resume)
