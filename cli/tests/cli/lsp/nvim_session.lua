-- The Neovim test's client side (cli/tests/cli/lsp_editor.rs runs it with Neovim 0.7.2:
-- nvim --headless --clean -c 'luafile nvim_session.lua'). It starts `vigil lsp` with
-- vim.lsp.start_client, opens the rule file with a misspelt field, waits for the diagnostic,
-- applies the did-you-mean code action, formats the buffer, asks for hover and completion,
-- writes what it saw to VIGIL_NVIM_OUT (JSON) and quits: status 0 when every step ran, 1
-- otherwise. Every wait is bounded; the Rust side kills Neovim if it still hangs.

local bin = os.getenv("VIGIL_NVIM_BIN")
local rule_file = os.getenv("VIGIL_NVIM_RULE")
local out_file = os.getenv("VIGIL_NVIM_OUT")
local results = { failures = {} }
local TIMEOUT = 20000

local function fail(msg)
  table.insert(results.failures, msg)
end

local function finish()
  local f = io.open(out_file, "w")
  if f then
    f:write(vim.fn.json_encode(results))
    f:close()
  end
  if #results.failures == 0 then
    vim.cmd("qall!")
  else
    vim.cmd("cquit 1")
  end
end

local function request(bufnr, method, params)
  local replies = vim.lsp.buf_request_sync(bufnr, method, params, TIMEOUT)
  if not replies then
    fail(method .. ": no reply in time")
    return nil
  end
  for _, reply in pairs(replies) do
    if reply.error then
      fail(method .. ": " .. vim.inspect(reply.error))
    end
    return reply.result
  end
  return nil
end

local function run()
  local dir = vim.fn.fnamemodify(rule_file, ":h")
  local client_id = vim.lsp.start_client({
    name = "vigil",
    cmd = { bin, "lsp" },
    root_dir = dir,
  })
  if not client_id then
    fail("start_client returned nil")
    return
  end
  vim.cmd("edit " .. vim.fn.fnameescape(rule_file))
  local bufnr = vim.api.nvim_get_current_buf()
  vim.lsp.buf_attach_client(bufnr, client_id)

  -- The diagnostic of the misspelt field.
  local got = vim.wait(TIMEOUT, function()
    return #vim.diagnostic.get(bufnr) > 0
  end, 20)
  if not got then
    fail("no diagnostics in time")
    return
  end
  local diags = vim.diagnostic.get(bufnr)
  results.diagnostics = {}
  for _, d in ipairs(diags) do
    local code = d.code
    if code == nil and d.user_data and d.user_data.lsp then
      code = d.user_data.lsp.code
    end
    table.insert(results.diagnostics, { line = d.lnum, col = d.col, code = code, message = d.message })
  end
  local first = vim.diagnostic.get(bufnr, { severity = vim.diagnostic.severity.ERROR })[1]
  if not first then
    fail("no error among the diagnostics")
    return
  end

  -- The did-you-mean code action, applied.
  local uri = vim.uri_from_bufnr(bufnr)
  local pos = { line = first.lnum, character = first.col }
  local actions = request(bufnr, "textDocument/codeAction", {
    textDocument = { uri = uri },
    range = { start = pos, ["end"] = pos },
    context = { diagnostics = {} },
  }) or {}
  results.actions = {}
  for _, a in ipairs(actions) do
    table.insert(results.actions, a.title)
  end
  if #actions == 0 then
    fail("no code action")
    return
  end
  vim.lsp.util.apply_workspace_edit(actions[1].edit, "utf-16")
  -- The server checks the changed buffer: the error goes away.
  local cleared = vim.wait(TIMEOUT, function()
    return #vim.diagnostic.get(bufnr, { severity = vim.diagnostic.severity.ERROR }) == 0
  end, 20)
  results.errors_cleared = cleared

  -- Formatting.
  vim.lsp.buf.formatting_sync(nil, TIMEOUT)
  results.text = table.concat(vim.api.nvim_buf_get_lines(bufnr, 0, -1, false), "\n")

  -- Hover over the fixed field, completion at the start of the `when` line's condition.
  local lines = vim.api.nvim_buf_get_lines(bufnr, 0, -1, false)
  for i, l in ipairs(lines) do
    local c = l:find("command_line", 1, true)
    if c and not results.hover then
      local h = request(bufnr, "textDocument/hover", {
        textDocument = { uri = uri },
        position = { line = i - 1, character = c },
      })
      results.hover = h and h.contents and (h.contents.value or h.contents) or vim.NIL
    end
    local w = l:find("when ", 1, true)
    if w and not results.completion then
      local r = request(bufnr, "textDocument/completion", {
        textDocument = { uri = uri },
        position = { line = i - 1, character = w + 4 },
      })
      local items = r and (r.items or r) or {}
      results.completion = {}
      for _, it in ipairs(items) do
        table.insert(results.completion, it.label)
      end
    end
  end
  vim.lsp.stop_client(client_id)
end

local ok, err = pcall(run)
if not ok then
  fail("lua error: " .. tostring(err))
end
finish()
