-- Portunus core: settings (SavedVariables), events, the refresh timer, /portunus.
-- The addon only reads game state and draws colored squares; it never acts for the player.
local addonName, ns = ...

-- 4 enemies: the Retribution strip (17 abilities, 26 buffs, 6 debuffs per enemy) is 1851 px wide at
-- 3 px cells, which fits a 1920 px screen; 8 enemies need 2379 px.
local DEFAULTS = { shown = true, cellSize = 3, x = 0, y = 0, spec = "auto", rate = 10, maxEnemies = 4 }
local LIMITS = { cellSize = { 1, 16 }, rate = { 2, 60 }, maxEnemies = { 0, 16 }, x = { 0, 10000 }, y = { 0, 10000 } }
local STATE_EVENTS = {
    "SPELL_UPDATE_COOLDOWN", "SPELL_UPDATE_CHARGES", "UNIT_AURA", "UNIT_POWER_FREQUENT",
    "PLAYER_TARGET_CHANGED", "NAME_PLATE_UNIT_ADDED", "NAME_PLATE_UNIT_REMOVED", "UNIT_HEALTH",
    "UNIT_SPELLCAST_START", "UNIT_SPELLCAST_STOP", "UNIT_SPELLCAST_SUCCEEDED",
    "UNIT_SPELLCAST_CHANNEL_START", "UNIT_SPELLCAST_CHANNEL_STOP", "CHALLENGE_MODE_START",
    "SCENARIO_CRITERIA_UPDATE", "PLAYER_SPECIALIZATION_CHANGED", "SPELL_UPDATE_USABLE",
    "SPELL_ACTIVATION_OVERLAY_GLOW_SHOW", "SPELL_ACTIVATION_OVERLAY_GLOW_HIDE",
}

ns.counter = 0
ns.dirty = true
ns.sinceUpdate = 0

local function say(message)
    print("|cff66ccffPortunus|r: " .. message)
end

--- Settings from SavedVariables, with defaults filled in and bad values replaced.
function ns.loadSettings(saved)
    saved = type(saved) == "table" and saved or {}
    for key, value in pairs(DEFAULTS) do
        if type(saved[key]) ~= type(value) then saved[key] = value end
    end
    for key, range in pairs(LIMITS) do
        if saved[key] < range[1] or saved[key] > range[2] then saved[key] = DEFAULTS[key] end
    end
    return saved
end

function ns.activeSpec()
    local id = ns.settings.spec
    if id == "auto" then id = ns.Reader.guarded(ns.Reader.specId) end
    return ns.specs and ns.specs[tonumber(id)]
end

--- Whether the strip, as last drawn, is wider than the screen allows (cells cut off at the edge
--- would make every frame unreadable).
function ns.stripOffScreen()
    local screenWidth = GetPhysicalScreenSize()
    return ns.stripWidth ~= nil and screenWidth ~= nil and ns.settings.x + ns.stripWidth > screenWidth
end

function ns.update()
    local settings = ns.settings
    local snapshot = ns.Reader.snapshot(ns.activeSpec(), settings, ns.combatStart)
    local bytes = ns.Frame.encode(snapshot, ns.counter)
    ns.counter = (ns.counter + 1) % 65536
    local cells = ns.Frame.cells(bytes)
    ns.Barcode.draw(ns.barcode, cells, settings.cellSize, settings.x, settings.y)
    ns.stripWidth = #cells * settings.cellSize
    if ns.stripOffScreen() and not ns.warnedWidth then
        say(string.format("the strip (%d px) runs past the screen's right edge: /portunus enemies N with a smaller N, "
            .. "or /portunus pos 0 %d", ns.stripWidth, settings.y))
        ns.warnedWidth = true
    end
    ns.dirty, ns.sinceUpdate = false, 0
    ns.lastSnapshot = snapshot
end

local core = CreateFrame("Frame")
ns.core = core

--- What the game tells an addon through events and no API gives back later: the time of the
--- player's own casts (for cooldown estimates) and proc highlights on clients without the query.
function ns.remember(event, arg1, _, arg3)
    local readable = ns.Reader.readable
    if event == "UNIT_SPELLCAST_SUCCEEDED" and arg1 == "player" then
        local spellId = readable(arg3)
        if spellId ~= nil then ns.casts[spellId] = GetTime() end
    elseif event == "SPELL_ACTIVATION_OVERLAY_GLOW_SHOW" or event == "SPELL_ACTIVATION_OVERLAY_GLOW_HIDE" then
        local spellId = readable(arg1)
        if spellId ~= nil then ns.glows[spellId] = (event == "SPELL_ACTIVATION_OVERLAY_GLOW_SHOW") end
    end
end

core:SetScript("OnEvent", function(_, event, arg1, arg2, arg3)
    ns.Reader.guarded(ns.remember, event, arg1, arg2, arg3) -- UNIT_SPELLCAST_SUCCEEDED: unit, castGUID, spellID
    if event == "ADDON_LOADED" and arg1 == addonName then
        PortunusDB = ns.loadSettings(PortunusDB)
        ns.settings = PortunusDB
        ns.barcode = ns.Barcode.create()
        if ns.settings.shown then ns.barcode:Show() else ns.barcode:Hide() end
    elseif event == "PLAYER_REGEN_DISABLED" then
        ns.combatStart = GetTime()
    elseif event == "PLAYER_REGEN_ENABLED" then
        ns.combatStart = nil
    end
    ns.dirty = true
end)

core:RegisterEvent("ADDON_LOADED")
core:RegisterEvent("PLAYER_REGEN_DISABLED")
core:RegisterEvent("PLAYER_REGEN_ENABLED")
core:RegisterEvent("UI_SCALE_CHANGED")
core:RegisterEvent("DISPLAY_SIZE_CHANGED")
for _, event in ipairs(STATE_EVENTS) do
    pcall(core.RegisterEvent, core, event) -- some clients lack some events
end

-- Redraw at `rate` per second, and on the first frame after a relevant event.
core:SetScript("OnUpdate", function(_, elapsed)
    if ns.settings == nil or not ns.settings.shown then return end
    ns.sinceUpdate = ns.sinceUpdate + elapsed
    if ns.dirty or ns.sinceUpdate >= 1 / ns.settings.rate then ns.update() end
end)

local HELP = "/portunus show | hide | cell N | pos X Y | spec auto|ID | rate HZ | enemies N | status"

local function setNumber(key, text)
    local value = tonumber(text)
    local range = LIMITS[key]
    if value == nil or value < range[1] or value > range[2] or value ~= math.floor(value) then
        say(key .. " must be a whole number from " .. range[1] .. " to " .. range[2])
        return false
    end
    ns.settings[key] = value
    return true
end

function ns.command(message)
    local words = {}
    for word in string.gmatch(message or "", "%S+") do words[#words + 1] = string.lower(word) end
    local verb = words[1]
    local settings = ns.settings
    if verb == "show" or verb == "hide" then
        settings.shown = (verb == "show")
        if settings.shown then ns.barcode:Show() else ns.barcode:Hide() end
    elseif verb == "cell" then
        setNumber("cellSize", words[2])
        ns.warnedWidth = false
    elseif verb == "pos" then
        if setNumber("x", words[2]) then setNumber("y", words[3]) end
    elseif verb == "rate" then
        setNumber("rate", words[2])
    elseif verb == "enemies" then
        setNumber("maxEnemies", words[2])
        ns.warnedWidth = false
    elseif verb == "spec" then
        local id = words[2]
        if id == "auto" or (tonumber(id) and ns.specs[tonumber(id)]) then
            settings.spec = (id == "auto") and "auto" or tonumber(id)
        else
            local known = {}
            for specId, spec in pairs(ns.specs) do known[#known + 1] = specId .. " (" .. spec.name .. ")" end
            say("unknown spec '" .. tostring(id) .. "'; known: auto, " .. table.concat(known, ", "))
        end
    elseif verb == "status" then
        local spec = ns.activeSpec()
        say(string.format("%s, cell %d px at (%d, %d), strip %d px wide%s, %d Hz, spec %s, frame %d%s",
            settings.shown and "shown" or "hidden", settings.cellSize, settings.x, settings.y, ns.stripWidth or 0,
            ns.stripOffScreen() and " (past the screen's edge!)" or "", settings.rate,
            spec and spec.name or "none (no table for this spec)", ns.counter,
            ns.lastError and (", last API error: " .. tostring(ns.lastError)) or ""))
    else
        say(HELP)
    end
    ns.dirty = true
end

SLASH_PORTUNUS1 = "/portunus"
SlashCmdList.PORTUNUS = ns.command
