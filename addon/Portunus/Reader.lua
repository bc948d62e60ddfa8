-- Portunus game reader: the legal addon API -> a GameSnapshot table.
-- Every value passes through `readable`: on retail 12.x many combat values are
-- "secret" (an addon may hold and display them but not compute on them), and a
-- client may lack an API altogether. Such fields become nil, which the frame sends
-- as "unknown". Nothing here works around the restriction: the fields the game keeps
-- readable in combat (cooldown and charge flags, usability, proc highlights, the
-- player's own casts, Blizzard's assisted-combat pick) are read as such, and a
-- cooldown's remaining time is only ever *estimated* from the player's own last cast
-- and a duration read while it was readable, and sent flagged as an estimate.
local _, ns = ...

local Reader = {}
ns.Reader = Reader

local GCD_SPELL = 61304      -- the global cooldown's spell id
local PERMANENT = 1e9        -- remaining time of an aura without duration (saturates on the wire)
local MAX_AURAS = 40
local NEVER_SECRET = 0       -- Enum.SecrecyLevel.NeverSecret

-- What the addon remembers between frames (Core.lua feeds the events):
ns.casts = ns.casts or {}       -- spell id -> GetTime() of the player's last successful cast
ns.durations = ns.durations or {} -- spell id -> cooldown or recharge in seconds, last read readable
ns.glows = ns.glows or {}       -- spell id -> proc highlight shown (from the glow events)
ns.recharges = ns.recharges or {} -- spell id -> { start = GetTime() the running recharge began, charges = n }

local function readable(value)
    if value == nil then return nil end
    if canaccessvalue then
        if not canaccessvalue(value) then return nil end
    elseif issecretvalue and issecretvalue(value) then
        return nil
    end
    return value
end
Reader.readable = readable

local function readableBool(value)
    value = readable(value)
    if value == nil then return nil end
    return value and true or false
end

-- Run one section; an API a client lacks or an unexpected secret turns the
-- section's fields unknown instead of raising errors in the player's UI.
local function guarded(fn, ...)
    local ok, a, b, c, d = pcall(fn, ...)
    if ok then return a, b, c, d end
    ns.lastError = a
    return nil
end
Reader.guarded = guarded

local function remainingOf(start, duration, now)
    if start == nil or duration == nil then return nil end
    if duration <= 0 or start <= 0 then return 0 end
    local remaining = start + duration - now
    if remaining < 0 then return 0 end
    return remaining
end

--- start, duration (nil when secret), isActive, isOnGCD (nil when the client does not say).
local function spellCooldown(spellId)
    if C_Spell and C_Spell.GetSpellCooldown then
        local info = readable(C_Spell.GetSpellCooldown(spellId))
        if info == nil then return nil end
        return readable(info.startTime), readable(info.duration), readableBool(info.isActive),
            readableBool(info.isOnGCD)
    elseif GetSpellCooldown then
        local start, duration = GetSpellCooldown(spellId)
        return readable(start), readable(duration), nil, nil
    end
end

--- The charge info table's fields, readable ones only; nil for a spell without charges.
local function spellCharges(spellId)
    if C_Spell and C_Spell.GetSpellCharges then
        local info = readable(C_Spell.GetSpellCharges(spellId))
        if info == nil then return nil end
        return { current = readable(info.currentCharges), maximum = readable(info.maxCharges),
                 start = readable(info.cooldownStartTime), duration = readable(info.cooldownDuration),
                 active = readableBool(info.isActive) }
    elseif GetSpellCharges then
        local current, maximum, start, duration = GetSpellCharges(spellId)
        if maximum == nil then return nil end
        return { current = readable(current), maximum = readable(maximum), start = readable(start),
                 duration = readable(duration) }
    end
end

function Reader.gcd(now)
    local start, duration = spellCooldown(GCD_SPELL)
    return remainingOf(start, duration, now), start, duration
end

local function usable(spellId)
    if C_Spell and C_Spell.IsSpellUsable then
        return readableBool((C_Spell.IsSpellUsable(spellId)))
    elseif IsUsableSpell then
        return readableBool((IsUsableSpell(spellId)))
    end
end

local function overlayed(spellId)
    if C_SpellActivationOverlay and C_SpellActivationOverlay.IsSpellOverlayed then
        return readableBool(C_SpellActivationOverlay.IsSpellOverlayed(spellId))
    elseif IsSpellOverlayed then
        return readableBool(IsSpellOverlayed(spellId))
    end
    return ns.glows[spellId] -- nil until the game showed or hid its glow
end

--- Blizzard's assisted-combat pick (0 = none) and the set of its rotation spells; nil, nil
--- on clients without it.
function Reader.assisted()
    if not (C_AssistedCombat and C_AssistedCombat.GetNextCastSpell) then return nil, nil end
    local rotation = {}
    local spells = C_AssistedCombat.GetRotationSpells and readable(C_AssistedCombat.GetRotationSpells())
    if spells == nil then
        rotation = nil
    else
        for _, id in ipairs(spells) do
            id = readable(id)
            if id ~= nil then rotation[id] = true end
        end
    end
    if C_AssistedCombat.IsAvailable and readable((C_AssistedCombat.IsAvailable())) == false then
        return 0, rotation
    end
    return readable(C_AssistedCombat.GetNextCastSpell(false)) or 0, rotation
end

--- The spell's cooldown as far as the game lets an addon know it, and what the addon remembers.
-- An equipped item's cooldown (an on-use trinket): GetInventoryItemCooldown for its slot.
function Reader.itemCooldown(slot, now)
    local start, duration = GetInventoryItemCooldown("player", slot)
    start, duration = readable(start), readable(duration)
    local remaining = remainingOf(start, duration, now)
    local out = { maxCharges = 1 }
    if duration ~= nil and duration > 0 then out.duration = duration end
    if remaining ~= nil then
        out.remaining, out.estimated, out.ready = remaining, false, remaining <= 0
        out.charges = out.ready and 1 or 0
    end
    return out
end

function Reader.cooldown(ability, now, gcdStart, gcdDuration, rotation)
    if ability.itemSlot ~= nil then return Reader.itemCooldown(ability.itemSlot, now) end
    local id = ability.spellId
    local out = { usable = guarded(usable, id), overlayed = guarded(overlayed, id) }
    if rotation ~= nil then out.assisted = rotation[id] == true end
    local cast = ns.casts[id]
    if cast ~= nil then out.sinceCast = now - cast end

    local charges = spellCharges(id)
    local maximum = 1
    if charges ~= nil then maximum = charges.maximum end
    out.maxCharges = maximum
    local start, duration, active, onGcd = spellCooldown(id)
    if onGcd == nil and start ~= nil and duration ~= nil and duration > 0 and start == gcdStart
            and duration == gcdDuration then
        onGcd = true -- only the global cooldown runs on it
    end
    if active == nil and start ~= nil and duration ~= nil then
        active = start > 0 and duration > 0
    end

    -- Ready: a charge is there, or only the global cooldown runs (ready when it ends).
    if onGcd == true then
        out.ready = true
    elseif active ~= nil then
        out.ready = not active
    end

    -- The duration as last read readable: a running cooldown that is not just the GCD, or a recharge.
    if charges ~= nil and charges.duration ~= nil and charges.duration > 0 then
        ns.durations[id] = charges.duration
    elseif charges == nil and onGcd ~= true and active == true and duration ~= nil and duration > 0 then
        ns.durations[id] = duration
    elseif ns.durations[id] == nil and GetSpellBaseCooldown then
        local base = readable((GetSpellBaseCooldown(id)))
        if base ~= nil and base > 0 then ns.durations[id] = base / 1000 end
    end
    out.duration = ns.durations[id]

    if charges ~= nil and maximum ~= nil and maximum > 1 then
        Reader.chargedCooldown(out, id, charges, maximum, now)
    else
        if out.ready ~= nil then out.charges = out.ready and 1 or 0 end
        if onGcd == true then
            out.remaining = 0
        else
            out.remaining = remainingOf(start, duration, now)
        end
        if out.remaining ~= nil then
            out.estimated = false
        elseif out.ready == true then
            out.remaining, out.estimated = 0, false
        elseif out.ready == false and cast ~= nil and out.duration ~= nil then
            local left = out.duration - (now - cast)
            if left > 0 then out.remaining, out.estimated = left, true end
        end
    end
    return out
end

--- Charges: the count when readable, else from the flags (none when the cooldown is active,
--- all when no recharge runs, and for two charges one when a recharge runs); the time to the
--- next charge when readable, else estimated from when the running recharge began.
function Reader.chargedCooldown(out, id, charges, maximum, now)
    local recharging = charges.active
    if recharging == nil and charges.current ~= nil then recharging = charges.current < maximum end
    local count = charges.current
    if count == nil then
        if out.ready == false then
            count = 0
        elseif out.ready == true and recharging == false then
            count = maximum
        elseif out.ready == true and recharging == true and maximum == 2 then
            count = 1
        end
    end
    out.charges = count
    if recharging == false or (count ~= nil and count >= maximum) then
        out.remaining, out.estimated = 0, false
        ns.recharges[id] = nil
        return
    end
    local exact = remainingOf(charges.start, charges.duration, now)
    if exact ~= nil then
        out.remaining, out.estimated = exact, false
        ns.recharges[id] = { start = charges.start, charges = count }
        return
    end
    if recharging ~= true then return end
    -- The recharge began at the cast that took the spell below its maximum, or when the previous
    -- charge came back (the addon sees that as the count going up).
    local record = ns.recharges[id]
    if record == nil then
        record = { start = ns.casts[id], charges = count }
        ns.recharges[id] = record
    elseif count ~= nil and record.charges ~= nil and count > record.charges then
        record.start = now
    end
    record.charges = count
    if record.start ~= nil and out.duration ~= nil then
        local left = out.duration - (now - record.start)
        if left > 0 then out.remaining, out.estimated = left, true end
    end
end

local function auraState(expiration, duration, applications, now)
    expiration, duration, applications = readable(expiration), readable(duration), readable(applications)
    local remaining
    if expiration ~= nil and duration ~= nil then
        if duration <= 0 or expiration <= 0 then
            remaining = PERMANENT
        else
            remaining = remainingOf(expiration - duration, duration, now)
        end
    end
    local stacks = applications
    if stacks ~= nil and stacks < 1 then stacks = 1 end -- the game counts 0 for unstacked auras
    return { remaining = remaining, stacks = stacks }
end

local ABSENT = { remaining = 0, stacks = 0 }
local UNKNOWN = {}

--- Whether the game may be hiding this aura from addons right now: then "not found" means
--- unknown, not absent. Clients without C_Secrets hide nothing.
function Reader.auraMayBeHidden(spellId)
    if not C_Secrets then return false end
    if C_Secrets.ShouldSpellAuraBeSecret then
        local secret = readable(C_Secrets.ShouldSpellAuraBeSecret(spellId))
        if secret ~= nil then return secret and true or false end
    end
    if C_Secrets.GetSpellAuraSecrecy then
        local level = readable(C_Secrets.GetSpellAuraSecrecy(spellId))
        if level == NEVER_SECRET then return false end
        if C_Secrets.ShouldAurasBeSecret then
            local general = readable(C_Secrets.ShouldAurasBeSecret())
            if general == false then return false end
        end
    end
    return true
end

function Reader.playerBuff(spellId, now)
    if spellId == 0 then return UNKNOWN end   -- an item's buff: its spell depends on the item worn
    if C_UnitAuras and C_UnitAuras.GetPlayerAuraBySpellID then
        local aura = C_UnitAuras.GetPlayerAuraBySpellID(spellId)
        if aura == nil then
            if Reader.auraMayBeHidden(spellId) then return UNKNOWN end
            return ABSENT
        end
        if readable(aura) == nil then return UNKNOWN end
        return auraState(aura.expirationTime, aura.duration, aura.applications, now)
    end
    for i = 1, MAX_AURAS do
        local name, _, count, _, duration, expiration, _, _, _, id = UnitAura("player", i, "HELPFUL")
        if name == nil then break end
        if readable(id) == spellId then return auraState(expiration, duration, count, now) end
    end
    return ABSENT
end

-- The player's own debuffs on `unit` for the spec's tracked debuff list.
function Reader.enemyDebuffs(unit, debuffs, now)
    local index = {}
    for i, debuff in ipairs(debuffs) do index[debuff.spellId] = i end
    local found, unknown = {}, false
    for i = 1, MAX_AURAS do
        local id, expiration, duration, count
        if C_UnitAuras and C_UnitAuras.GetAuraDataByIndex then
            local aura = C_UnitAuras.GetAuraDataByIndex(unit, i, "HARMFUL|PLAYER")
            if aura == nil then break end
            if readable(aura) == nil then unknown = true break end
            id, expiration, duration, count =
                readable(aura.spellId), aura.expirationTime, aura.duration, aura.applications
        else
            local name
            name, _, count, _, duration, expiration, _, _, _, id = UnitAura(unit, i, "HARMFUL|PLAYER")
            if name == nil then break end
            id = readable(id)
        end
        if id == nil then
            unknown = true -- cannot tell which aura this is, so no debuff is known to be absent
        elseif index[id] then
            found[index[id]] = auraState(expiration, duration, count, now)
        end
    end
    local out = {}
    for i, debuff in ipairs(debuffs) do
        if found[i] then
            out[i] = found[i]
        elseif unknown or Reader.auraMayBeHidden(debuff.spellId) then
            out[i] = UNKNOWN
        else
            out[i] = ABSENT
        end
    end
    return out
end

local function inRange(spellId, unit)
    if C_Spell and C_Spell.IsSpellInRange then
        local value = readable(C_Spell.IsSpellInRange(spellId, unit))
        if value == nil then return nil end
        return value and true or false
    elseif IsSpellInRange and GetSpellInfo then
        local value = readable(IsSpellInRange(GetSpellInfo(spellId), unit))
        if value == nil then return nil end
        return value == 1
    end
end

local function hostile(unit)
    if not readable(UnitExists(unit)) then return false end
    return readable(UnitCanAttack("player", unit)) == true and not readable(UnitIsDeadOrGhost(unit))
end

--- Whether nameplate `unit` is the target. UnitIsUnit is secret on dungeon maps; then the two
--- tokens' nameplate frames are compared (the same frame is the same unit). nil: cannot tell.
function Reader.isTarget(unit)
    local secretComparison
    if C_Secrets and C_Secrets.ShouldUnitComparisonBeSecret then
        secretComparison = readable(C_Secrets.ShouldUnitComparisonBeSecret(unit, "target"))
    elseif C_Secrets and C_Secrets.CanCompareUnitTokens then -- the name some builds' notes use
        secretComparison = readable(C_Secrets.CanCompareUnitTokens(unit, "target")) == false
    end
    if secretComparison ~= true then
        local same = readable(UnitIsUnit(unit, "target"))
        if same ~= nil then return same and true or false end
    end
    if C_NamePlate and C_NamePlate.GetNamePlateForUnit then
        local plate, targetPlate = C_NamePlate.GetNamePlateForUnit(unit), C_NamePlate.GetNamePlateForUnit("target")
        if plate ~= nil and targetPlate ~= nil then return rawequal(plate, targetPlate) end
        if plate ~= nil then return false end
    end
    return nil
end

--- Hostile units: the target first, then nameplates in their order, the target's own plate
--- left out (a plate that cannot be told apart from the target is left out too: counting the
--- target twice is the worse error for AoE decisions).
function Reader.enemyUnits(limit)
    local units = {}
    if limit <= 0 then return units end
    local hasTarget = hostile("target")
    if hasTarget then units[1] = "target" end
    for i = 1, 40 do
        if #units >= limit then break end
        local unit = "nameplate" .. i
        if hostile(unit) and not (hasTarget and Reader.isTarget(unit) ~= false) then
            units[#units + 1] = unit
        end
    end
    return units
end

function Reader.enemy(unit, spec, now)
    local health = readable(UnitHealth(unit))
    local maxHealth = readable(UnitHealthMax(unit))
    local pct
    if health ~= nil and maxHealth ~= nil and maxHealth > 0 then pct = health / maxHealth * 100 end
    return {
        health = health,
        maxHealth = maxHealth,
        healthPct = pct,
        inRange = guarded(inRange, spec.rangeSpell, unit),
        debuffs = guarded(Reader.enemyDebuffs, unit, spec.debuffs, now) or Reader.unknownAuras(#spec.debuffs),
    }
end

function Reader.unknownAuras(count)
    local out = {}
    for i = 1, count do out[i] = { remaining = nil, stacks = nil } end
    return out
end

function Reader.cast(now)
    local _, _, _, _, endMs, _, _, _, spellId = UnitCastingInfo("player")
    if endMs == nil then
        _, _, _, _, endMs, _, _, spellId = UnitChannelInfo("player")
    end
    if endMs == nil then return 0, 0 end
    endMs, spellId = readable(endMs), readable(spellId)
    local remaining
    if endMs ~= nil then remaining = endMs / 1000 - now; if remaining < 0 then remaining = 0 end end
    return spellId, remaining
end

function Reader.keystone()
    local out = {}
    if not (C_ChallengeMode and C_ChallengeMode.GetActiveChallengeMapID) then return out end
    out.mapId = readable(C_ChallengeMode.GetActiveChallengeMapID())
    if out.mapId == nil then return out end
    out.level = readable((C_ChallengeMode.GetActiveKeystoneInfo()))
    local _, _, timeLimit = C_ChallengeMode.GetMapUIInfo(out.mapId)
    out.timeLimit = readable(timeLimit)
    local _, elapsed = GetWorldElapsedTime(1)
    out.elapsed = readable(elapsed)
    local step = C_ScenarioInfo.GetScenarioStepInfo()
    for i = 1, (step and readable(step.numCriteria)) or 0 do
        local info = C_ScenarioInfo.GetCriteriaInfo(i)
        if info and readable(info.isWeightedProgress) then
            -- Weighted progress (enemy forces): `quantity` already is the percentage, as
            -- Blizzard's own tracker shows it; totalQuantity is the count behind it.
            local quantity = readable(info.quantity)
            if quantity ~= nil then out.enemyForcesPct = quantity end
        end
    end
    return out
end

function Reader.specId()
    if C_SpecializationInfo and C_SpecializationInfo.GetSpecialization then
        local index = readable(C_SpecializationInfo.GetSpecialization())
        if index and C_SpecializationInfo.GetSpecializationInfo then
            return readable((C_SpecializationInfo.GetSpecializationInfo(index)))
        end
    end
    -- Older clients; retail defines these globals only behind a deprecation setting.
    if GetSpecialization and GetSpecializationInfo then
        local index = readable(GetSpecialization())
        if index then return readable((GetSpecializationInfo(index))) end
    end
end

--- Everything the planner needs, for the spec table `spec` (nil: only spec-independent fields).
function Reader.snapshot(spec, settings, combatStart)
    local now = GetTime()
    local inCombat = guarded(function() return readable(UnitAffectingCombat("player")) end)
    local s = {
        specId = spec and spec.specId or guarded(Reader.specId),
        gameTime = now,
        inCombat = inCombat,
        combatTime = (inCombat and combatStart) and (now - combatStart) or nil,
        resources = {}, cooldowns = {}, buffs = {}, enemies = {}, numDebuffs = 0,
    }
    local gcdRemaining, gcdStart, gcdDuration = guarded(Reader.gcd, now)
    s.gcdRemaining = gcdRemaining
    s.castSpellId, s.castRemaining = guarded(Reader.cast, now)
    s.keystone = guarded(Reader.keystone) or {}
    local pick, rotation = guarded(Reader.assisted)
    s.assistedSpellId = pick
    if spec == nil then return s end
    for i, resource in ipairs(spec.resources) do
        s.resources[i] = {
            current = guarded(function() return readable(UnitPower("player", resource.powerType)) end),
            maximum = guarded(function() return readable(UnitPowerMax("player", resource.powerType)) end),
        }
    end
    for i, ability in ipairs(spec.abilities) do
        s.cooldowns[i] = guarded(Reader.cooldown, ability, now, gcdStart, gcdDuration, rotation) or {}
    end
    for i, buff in ipairs(spec.buffs) do
        s.buffs[i] = guarded(Reader.playerBuff, buff.spellId, now) or {}
    end
    s.numDebuffs = #spec.debuffs
    for i, unit in ipairs(guarded(Reader.enemyUnits, settings.maxEnemies) or {}) do
        s.enemies[i] = guarded(Reader.enemy, unit, spec, now)
            or { debuffs = Reader.unknownAuras(#spec.debuffs) }
    end
    return s
end
