-- Neovim 0.12+: Wisp's suggestions through the native `vim.lsp.inline_completion`, which requests,
-- draws and accepts them itself (and runs the item's accept command on accept). Only loaded when
-- vim.fn.has('nvim-0.12') is 1.

local M = {}

--- Whether this Neovim has the native inline completion.
function M.available()
  return vim.fn.has('nvim-0.12') == 1 and vim.lsp.inline_completion ~= nil
end

--- Turns the native inline completion on or off for `bufnr` (nil: every buffer).
function M.enable(enable, bufnr)
  local ok, err = pcall(vim.lsp.inline_completion.enable, enable, bufnr and { bufnr = bufnr } or nil)
  if not ok then
    vim.notify('wisp: vim.lsp.inline_completion.enable failed: ' .. tostring(err), vim.log.levels.WARN)
  end
end

--- Accepts the suggestion on screen in `bufnr`; returns whether one was accepted.
function M.accept(bufnr)
  local ok, accepted = pcall(vim.lsp.inline_completion.get, { bufnr = bufnr })
  return ok and accepted == true
end

--- Shows the next candidate, if the server gave several.
function M.next(bufnr)
  local select = vim.lsp.inline_completion.select
  if select then
    pcall(select, { bufnr = bufnr, count = 1 })
    return true
  end
  return false
end

return M
