-- Small helpers shared by the Wisp plugin: text lengths in LSP position encodings, and calls on an
-- LSP client that work on Neovim 0.10 (client.request) as well as 0.11+ (client:request).

local M = {}

local method_style = vim.fn.has('nvim-0.11') == 1

--- Sends a request to `client`; returns (ok, request_id).
function M.request(client, method, params, handler, bufnr)
  handler = handler or function() end
  if method_style then
    return client:request(method, params, handler, bufnr)
  end
  return client.request(method, params, handler, bufnr)
end

--- Sends a notification to `client`.
function M.notify(client, method, params)
  if method_style then
    return client:notify(method, params)
  end
  return client.notify(method, params)
end

--- Cancels a request sent with M.request.
function M.cancel(client, request_id)
  if not request_id then
    return
  end
  if method_style then
    pcall(client.cancel_request, client, request_id)
  else
    pcall(client.cancel_request, request_id)
  end
end

--- Whether the client process has stopped (or is stopping).
function M.is_stopped(client)
  if method_style then
    return client:is_stopped()
  end
  return client.is_stopped()
end

--- The length of a UTF-8 string in UTF-16 code units: one per character, two for characters
--- outside the Basic Multilingual Plane (four-byte UTF-8 sequences).
function M.utf16_len(text)
  local units = 0
  for index = 1, #text do
    local byte = text:byte(index)
    if byte < 0x80 or byte >= 0xC0 then
      units = units + (byte >= 0xF0 and 2 or 1)
    end
  end
  return units
end

--- The number of characters (code points) of a UTF-8 string.
function M.utf32_len(text)
  local points = 0
  for index = 1, #text do
    local byte = text:byte(index)
    if byte < 0x80 or byte >= 0xC0 then
      points = points + 1
    end
  end
  return points
end

--- The LSP `character` of byte column `col` (0-based) of `line` in the client's encoding.
function M.character(line, col, encoding)
  local prefix = line:sub(1, col)
  if encoding == 'utf-8' then
    return #prefix
  elseif encoding == 'utf-32' then
    return M.utf32_len(prefix)
  end
  return M.utf16_len(prefix)
end

--- The byte column (0-based) of LSP `character` on `line` in the client's encoding.
function M.byte_col(line, character, encoding)
  if encoding == 'utf-8' then
    return math.min(character, #line)
  end
  local units, index = 0, 1
  while index <= #line and units < character do
    local byte = line:byte(index)
    local width = byte >= 0xF0 and 4 or byte >= 0xE0 and 3 or byte >= 0xC0 and 2 or 1
    units = units + ((encoding ~= 'utf-32' and width == 4) and 2 or 1)
    index = index + width
  end
  return math.min(index - 1, #line)
end

return M
