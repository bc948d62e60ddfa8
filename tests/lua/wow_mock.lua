-- A mock of the WoW addon API, driven by the tests through the global MOCK table.
-- Secret values are one table whose every arithmetic, comparison, concatenation
-- or index raises, as the 12.x client does to an addon that computes on one.
-- `retail = false` removes the retail-only APIs so the Classic fallbacks run.
-- Retail 12.x behaviours (shared/reference/wow-12-addon-api.md): a hidden aura makes
-- GetPlayerAuraBySpellID return nothing (C_Secrets says which may be hidden); cooldown
-- and charge info keep isActive / isOnGCD / maxCharges readable when the times are
-- secret; UnitIsUnit is secret on a dungeon map (`MOCK.dungeon`); weighted criteria carry
-- the percentage in `quantity`; GetSpecialization / GetSpecializationInfo are missing
-- (retail defines them only behind a deprecation setting).

local function refuse() error("computed on a secret value", 2) end
SECRET = setmetatable({}, {
    __add = refuse, __sub = refuse, __mul = refuse, __div = refuse, __mod = refuse, __pow = refuse,
    __unm = refuse, __lt = refuse, __le = refuse, __concat = refuse, __index = refuse, __len = refuse,
    __call = refuse, __newindex = refuse,
})

-- Python hands over plain values; the string "__SECRET__" stands for a secret.
function mock_secrets(value)
    if value == "__SECRET__" then return SECRET end
    if type(value) == "table" then
        for k, v in pairs(value) do value[k] = mock_secrets(v) end
    end
    return value
end

MOCK = { now = 1000, physicalHeight = 1440, uiScale = 0.71, units = {}, cooldowns = {}, charges = {},
         playerAuras = {}, power = {}, printed = {}, secretAuras = {}, usable = {}, overlayed = {},
         baseCooldowns = {}, plates = {} }
FRAMES = {}

local function newRegion(kind, parent)
    local region = { kind = kind, parent = parent, points = {}, scale = 1, shown = true, width = 0, height = 0 }
    function region:SetPoint(point, relative, relativePoint, x, y)
        self.points[#self.points + 1] = { point, relative, relativePoint, x or 0, y or 0 }
    end
    function region:ClearAllPoints() self.points = {} end
    function region:SetSize(w, h) self.width, self.height = w, h end
    function region:Show() self.shown = true end
    function region:Hide() self.shown = false end
    function region:IsShown() return self.shown end
    return region
end

function CreateFrame(kind, name, parent)
    local frame = newRegion(kind, parent)
    frame.name, frame.scripts, frame.events, frame.textures_made = name, {}, {}, {}
    function frame:SetScript(what, fn) self.scripts[what] = fn end
    function frame:RegisterEvent(event) self.events[event] = true end
    function frame:SetFrameStrata(strata) self.strata = strata end
    function frame:SetClampedToScreen() end
    function frame:SetScale(scale) self.scale = scale end
    function frame:GetEffectiveScale() return self.scale * UIParent:GetEffectiveScale() end
    function frame:CreateTexture()
        local texture = newRegion("Texture", self)
        function texture:SetColorTexture(r, g, b, a) self.color = { r, g, b, a } end
        if MOCK.retail ~= false then
            function texture:SetSnapToPixelGrid(on) self.snap = on end
            function texture:SetTexelSnappingBias(bias) self.bias = bias end
        end
        self.textures_made[#self.textures_made + 1] = texture
        return texture
    end
    FRAMES[#FRAMES + 1] = frame
    if name then _G[name] = frame end
    return frame
end

UIParent = { GetEffectiveScale = function() return MOCK.uiScale end }
SlashCmdList = {}
function print(...)
    local parts = {}
    for i = 1, select("#", ...) do parts[#parts + 1] = tostring((select(i, ...))) end
    MOCK.printed[#MOCK.printed + 1] = table.concat(parts, " ")
end

function mock_fire(event, ...)
    for _, frame in ipairs(FRAMES) do
        if frame.events[event] and frame.scripts.OnEvent then frame.scripts.OnEvent(frame, event, ...) end
    end
end

function mock_tick(elapsed)
    for _, frame in ipairs(FRAMES) do
        if frame.scripts.OnUpdate then frame.scripts.OnUpdate(frame, elapsed) end
    end
end

function GetTime() return MOCK.now end
function GetPhysicalScreenSize() return MOCK.physicalHeight * 16 / 9, MOCK.physicalHeight end
local function getSpecialization() return MOCK.specIndex end
local function getSpecializationInfo(index) if index == MOCK.specIndex then return MOCK.specId end end

local function unit(token) return MOCK.units[token] end
function UnitExists(token) return unit(token) ~= nil end
function UnitCanAttack(_, token) return unit(token) ~= nil and unit(token).canAttack end
function UnitIsDeadOrGhost(token) return unit(token) ~= nil and unit(token).dead end
function UnitIsUnit(a, b)
    if MOCK.retail ~= false and MOCK.dungeon then return SECRET end
    return unit(a) ~= nil and unit(b) ~= nil and unit(a).guid == unit(b).guid
end
function UnitHealth(token) return unit(token) and unit(token).health or 0 end
function UnitHealthMax(token) return unit(token) and unit(token).maxHealth or 0 end
function UnitAffectingCombat() return MOCK.inCombat end
function UnitPower(_, powerType) local p = MOCK.power[powerType] return p and p.current or 0 end
function UnitPowerMax(_, powerType) local p = MOCK.power[powerType] return p and p.maximum or 0 end
function UnitCastingInfo()
    local c = MOCK.casting
    if c and not c.channel then return "Spell", "Spell", 0, 0, c.endMs, false, 1, false, c.spellId end
end
function UnitChannelInfo()
    local c = MOCK.casting
    if c and c.channel then return "Spell", "Spell", 0, 0, c.endMs, false, false, c.spellId end
end
function GetWorldElapsedTime() local k = MOCK.keystone return 1, k and k.elapsed or 0, 2 end

local function spellCooldown(id)
    local c = MOCK.cooldowns[id]
    if c == nil then return { startTime = 0, duration = 0, isEnabled = true, isActive = false, modRate = 1 } end
    return c
end
local function auraAt(token, index)
    local u = unit(token)
    return u and u.auras and u.auras[index]
end

GetInventoryItemCooldown = function(_, slot)
    local c = MOCK.items and MOCK.items[slot]
    if c == nil then return 0, 0, 1 end
    return c.startTime, c.duration, 1
end

function mock_install_apis()
    if MOCK.retail ~= false then
        issecretvalue = function(value) return rawequal(value, SECRET) end
        canaccessvalue = nil
        if not MOCK.noCanAccess then canaccessvalue = function(value) return not rawequal(value, SECRET) end end
        GetSpecialization, GetSpecializationInfo, GetSpellCooldown, GetSpellCharges, UnitAura = nil, nil, nil, nil, nil
        C_SpecializationInfo = { GetSpecialization = getSpecialization, GetSpecializationInfo = getSpecializationInfo }
        C_Spell = {
            GetSpellCooldown = spellCooldown,
            GetSpellCharges = function(id) return MOCK.charges[id] end,
            IsSpellInRange = function(_, token) local u = unit(token) return u and u.inRange end,
            IsSpellUsable = function(id) return MOCK.usable[id], false end,
        }
        C_SpellActivationOverlay = { IsSpellOverlayed = function(id) return MOCK.overlayed[id] end }
        C_AssistedCombat = {
            GetNextCastSpell = function() return MOCK.assisted and MOCK.assisted.pick end,
            GetRotationSpells = function() return MOCK.assisted and MOCK.assisted.rotation or {} end,
            IsAvailable = function() return MOCK.assisted ~= nil, "" end,
        }
        C_Secrets = {
            ShouldSpellAuraBeSecret = function(id) return MOCK.secretAuras[id] == true end,
            ShouldUnitComparisonBeSecret = function() return MOCK.dungeon == true end,
        }
        C_NamePlate = {
            GetNamePlateForUnit = function(token)
                local u = unit(token)
                if u == nil or u.guid == nil then return nil end
                MOCK.plates[u.guid] = MOCK.plates[u.guid] or { guid = u.guid }
                return MOCK.plates[u.guid]
            end,
        }
        GetSpellBaseCooldown = function(id) return MOCK.baseCooldowns[id], 1500 end
        C_UnitAuras = {
            -- A hidden aura is not returned at all, whether the player has it or not.
            GetPlayerAuraBySpellID = function(id)
                if MOCK.secretAuras[id] then return nil end
                return MOCK.playerAuras[id]
            end,
            GetAuraDataByIndex = auraAt,
        }
        C_ChallengeMode = {
            GetActiveChallengeMapID = function() return MOCK.keystone and MOCK.keystone.mapId end,
            GetActiveKeystoneInfo = function() return MOCK.keystone and MOCK.keystone.level, {}, false end,
            GetMapUIInfo = function(id) return "Dungeon", id, MOCK.keystone.timeLimit, 0, 0 end,
        }
        C_ScenarioInfo = {
            GetScenarioStepInfo = function() return { numCriteria = #MOCK.keystone.criteria } end,
            GetCriteriaInfo = function(i) return MOCK.keystone.criteria[i] end,
        }
    else
        issecretvalue, canaccessvalue, C_Spell, C_UnitAuras, C_ChallengeMode, C_ScenarioInfo = nil, nil, nil, nil, nil, nil
        C_SpecializationInfo, C_SpellActivationOverlay, C_AssistedCombat, C_Secrets = nil, nil, nil, nil
        C_NamePlate, GetSpellBaseCooldown = nil, nil
        GetSpecialization, GetSpecializationInfo = getSpecialization, getSpecializationInfo
        IsUsableSpell = function(id) return MOCK.usable[id], false end
        GetSpellCooldown = function(id) local c = spellCooldown(id) return c.startTime, c.duration, 1 end
        GetSpellCharges = function(id)
            local c = MOCK.charges[id]
            if c then return c.currentCharges, c.maxCharges, c.cooldownStartTime, c.cooldownDuration end
        end
        GetSpellInfo = function(id) return "spell" .. id end
        IsSpellInRange = function(_, token)
            local u = unit(token)
            if u == nil or u.inRange == nil then return nil end
            return u.inRange and 1 or 0
        end
        UnitAura = function(token, index, filter)
            local aura
            if token == "player" then
                aura = MOCK.playerAuraList and MOCK.playerAuraList[index]
            else
                aura = auraAt(token, index)
            end
            if aura == nil then return nil end
            return "aura", 0, aura.applications, nil, aura.duration, aura.expirationTime, "player", false, false,
                aura.spellId
        end
    end
end
