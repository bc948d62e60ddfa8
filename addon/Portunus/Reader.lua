-- Portunus game reader: the legal addon API -> a GameSnapshot table.
-- Every value passes through `readable`: on retail 12.x many combat values are
-- "secret" (an addon may hold and display them but not compute on them), and a
-- client may lack an API altogether. Such fields become nil, which the frame sends
-- as "unknown". Nothing here works around the restriction.
local _, ns = ...

local Reader = {}
ns.Reader = Reader

local GCD_SPELL = 61304      -- the global cooldown's spell id
local PERMANENT = 1e9        -- remaining time of an aura without duration (saturates on the wire)
local MAX_AURAS = 40

local function readable(value)
    if value == nil then return nil end
    if issecretvalue and issecretvalue(value) then return nil end
    return value
end
Reader.readable = readable

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

local function spellCooldown(spellId)
    if C_Spell and C_Spell.GetSpellCooldown then
        local info = C_Spell.GetSpellCooldown(spellId)
        if readable(info) == nil then return nil end
        return readable(info.startTime), readable(info.duration), readable(info.isOnGCD)
    elseif GetSpellCooldown then
        local start, duration = GetSpellCooldown(spellId)
        return readable(start), readable(duration), nil
    end
end

local function spellCharges(spellId)
    if C_Spell and C_Spell.GetSpellCharges then
        local info = C_Spell.GetSpellCharges(spellId)
        if readable(info) == nil then return nil end
        return readable(info.currentCharges), readable(info.maxCharges),
            readable(info.cooldownStartTime), readable(info.cooldownDuration)
    elseif GetSpellCharges then
        local current, maximum, start, duration = GetSpellCharges(spellId)
        return readable(current), readable(maximum), readable(start), readable(duration)
    end
end

function Reader.gcd(now)
    local start, duration = spellCooldown(GCD_SPELL)
    return remainingOf(start, duration, now), start, duration
end

function Reader.cooldown(ability, now, gcdStart, gcdDuration)
    if ability.charges > 1 then
        local current, maximum, start, duration = spellCharges(ability.spellId)
        if current == nil then return { remaining = nil, charges = nil } end
        if maximum ~= nil and current >= maximum then return { remaining = 0, charges = current } end
        return { remaining = remainingOf(start, duration, now), charges = current }
    end
    local start, duration, onGcd = spellCooldown(ability.spellId)
    if onGcd == true or (start ~= nil and start == gcdStart and duration == gcdDuration) then
        return { remaining = 0, charges = 1 } -- only the global cooldown: ready when it ends
    end
    local remaining = remainingOf(start, duration, now)
    if remaining == nil then return { remaining = nil, charges = nil } end
    return { remaining = remaining, charges = (remaining == 0) and 1 or 0 }
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

function Reader.playerBuff(spellId, now)
    if C_UnitAuras and C_UnitAuras.GetPlayerAuraBySpellID then
        local aura = C_UnitAuras.GetPlayerAuraBySpellID(spellId)
        if aura == nil then return ABSENT end
        if readable(aura) == nil then return { remaining = nil, stacks = nil } end
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
    for i = 1, #debuffs do
        out[i] = found[i] or (unknown and { remaining = nil, stacks = nil }) or ABSENT
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

--- Hostile units: the target first, then nameplates in their order.
function Reader.enemyUnits(limit)
    local units = {}
    if hostile("target") then units[1] = "target" end
    for i = 1, 40 do
        if #units >= limit then break end
        local unit = "nameplate" .. i
        if hostile(unit) and not (units[1] == "target" and readable(UnitIsUnit(unit, "target"))) then
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
            local quantity, total = readable(info.quantity), readable(info.totalQuantity)
            if quantity ~= nil and total ~= nil and total > 0 then out.enemyForcesPct = quantity / total * 100 end
        end
    end
    return out
end

function Reader.specId()
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
    if spec == nil then return s end
    for i, resource in ipairs(spec.resources) do
        s.resources[i] = {
            current = guarded(function() return readable(UnitPower("player", resource.powerType)) end),
            maximum = guarded(function() return readable(UnitPowerMax("player", resource.powerType)) end),
        }
    end
    for i, ability in ipairs(spec.abilities) do
        s.cooldowns[i] = guarded(Reader.cooldown, ability, now, gcdStart, gcdDuration) or {}
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
