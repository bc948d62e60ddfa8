-- Portunus frame encoder: GameSnapshot table -> frame bytes -> cell colors.
-- Pure Lua 5.1 (no WoW API, no bit library), so the same code runs in every client
-- and under lupa in the tests. The format is docs/protocol.md; portunus/protocol/frame.py
-- is the reference decoder.
local _, ns = ...

local floor = math.floor
local Frame = {}
ns.Frame = Frame

Frame.MAGIC = { 0x50, 0x4E } -- "PN"
Frame.VERSION = 1
Frame.MAX_ENEMIES = 16

-- Field kinds: byte size and scale; a value is stored as floor(value * scale + 0.5),
-- clamped to 0 .. all-ones - 1; all ones means "unknown".
local U8, U16, U32 = { 1, 1 }, { 2, 1 }, { 4, 1 }
local CENTISECONDS, MILLISECONDS, PERCENT = { 2, 100 }, { 4, 1000 }, { 2, 100 }
local ALL_ONES = { 255, 65535, 4294967295 }
local ONES_INDEX = { [1] = 1, [2] = 2, [4] = 3 }

local function put(out, kind, value)
    local size, scale = kind[1], kind[2]
    local unknown = ALL_ONES[ONES_INDEX[size]]
    local raw
    if value == nil then
        raw = unknown
    else
        raw = floor(value * scale + 0.5)
        if raw < 0 then raw = 0 end
        if raw > unknown - 1 then raw = unknown - 1 end
    end
    for shift = size - 1, 0, -1 do
        local unit = 256 ^ shift
        local byte = floor(raw / unit)
        out[#out + 1] = byte
        raw = raw - byte * unit
    end
end

local function putFlag(out, value)
    if value == nil then put(out, U8, nil) elseif value then put(out, U8, 1) else put(out, U8, 0) end
end

local function putAura(out, aura)
    put(out, CENTISECONDS, aura.remaining)
    put(out, U8, aura.stacks)
end

local function percent(value)
    if value ~= nil and value > 100 then return 100 end
    return value
end

--- The payload bytes of a snapshot (field order of docs/protocol.md).
function Frame.payload(s)
    local out = {}
    put(out, U16, s.specId)
    put(out, MILLISECONDS, s.gameTime)
    put(out, MILLISECONDS, s.combatTime)
    putFlag(out, s.inCombat)
    put(out, CENTISECONDS, s.gcdRemaining)
    put(out, U32, s.castSpellId)
    put(out, CENTISECONDS, s.castRemaining)
    put(out, U8, #s.resources)
    for _, r in ipairs(s.resources) do
        put(out, U32, r.current)
        put(out, U32, r.maximum)
    end
    put(out, U8, #s.cooldowns)
    for _, c in ipairs(s.cooldowns) do
        put(out, CENTISECONDS, c.remaining)
        put(out, U8, c.charges)
    end
    put(out, U8, #s.buffs)
    for _, b in ipairs(s.buffs) do putAura(out, b) end
    local enemies = s.enemies
    local count = #enemies
    if count > Frame.MAX_ENEMIES then count = Frame.MAX_ENEMIES end
    put(out, U8, s.numDebuffs)
    put(out, U8, count)
    for i = 1, count do
        local e = enemies[i]
        put(out, U32, e.health)
        put(out, U32, e.maxHealth)
        put(out, PERCENT, percent(e.healthPct))
        putFlag(out, e.inRange)
        for d = 1, s.numDebuffs do putAura(out, e.debuffs[d]) end
    end
    local k = s.keystone
    put(out, U16, k.mapId)
    put(out, U8, k.level)
    put(out, PERCENT, percent(k.enemyForcesPct))
    put(out, MILLISECONDS, k.elapsed)
    put(out, MILLISECONDS, k.timeLimit)
    return out
end

-- XOR of two bytes through a 16 x 16 nibble table: Lua 5.1 has no bit operators and
-- Classic and retail differ in what `bit` library they ship.
local NIBBLE_XOR = {}
for a = 0, 15 do
    for b = 0, 15 do
        local x, place, p, q = 0, 1, a, b
        for _ = 1, 4 do
            if (p % 2) ~= (q % 2) then x = x + place end
            p, q, place = floor(p / 2), floor(q / 2), place * 2
        end
        NIBBLE_XOR[a * 16 + b] = x
    end
end

local function xorByte(a, b)
    local high = NIBBLE_XOR[floor(a / 16) * 16 + floor(b / 16)]
    local low = NIBBLE_XOR[(a % 16) * 16 + (b % 16)]
    return high * 16 + low
end

-- CRC-32 (IEEE 802.3, reflected, as zlib.crc32), with the register kept as 4 bytes.
local CRC_TABLE = {}
for n = 0, 255 do
    local c = { n, 0, 0, 0 } -- little-endian bytes of the register
    for _ = 1, 8 do
        local lowBit = c[1] % 2
        -- shift right by one across the four bytes
        for i = 1, 4 do
            local carry = (i < 4) and (c[i + 1] % 2) or 0
            c[i] = floor(c[i] / 2) + carry * 128
        end
        if lowBit == 1 then -- xor with the polynomial 0xEDB88320
            c[1], c[2], c[3], c[4] = xorByte(c[1], 0x20), xorByte(c[2], 0x83), xorByte(c[3], 0xB8), xorByte(c[4], 0xED)
        end
    end
    CRC_TABLE[n] = c
end

function Frame.crc32(bytes)
    local r1, r2, r3, r4 = 255, 255, 255, 255
    for i = 1, #bytes do
        local t = CRC_TABLE[xorByte(r1, bytes[i])]
        r1, r2, r3, r4 = xorByte(r2, t[1]), xorByte(r3, t[2]), xorByte(r4, t[3]), t[4]
    end
    -- final xor with 0xFFFFFFFF, returned big-endian
    return { 255 - r4, 255 - r3, 255 - r2, 255 - r1 }
end

--- The whole frame: magic, version, counter, payload length, payload, CRC-32.
function Frame.encode(snapshot, counter)
    local payload = Frame.payload(snapshot)
    local out = { Frame.MAGIC[1], Frame.MAGIC[2], Frame.VERSION }
    put(out, U16, counter % 65536)
    put(out, U16, #payload)
    for i = 1, #payload do out[#out + 1] = payload[i] end
    local crc = Frame.crc32(out)
    for i = 1, 4 do out[#out + 1] = crc[i] end
    return out
end

Frame.SYNC = { 1, 0, 1, 0, 1, 0, 1, 0 } -- white, black, ...
Frame.LEVEL_STEP = 17

--- Cell colors as levels 0..255: the sync cells, then three nibbles per cell (R, G, B).
function Frame.cells(bytes)
    local cells = {}
    for _, white in ipairs(Frame.SYNC) do
        local level = white * 255
        cells[#cells + 1] = { level, level, level }
    end
    local nibbles = {}
    for i = 1, #bytes do
        nibbles[#nibbles + 1] = floor(bytes[i] / 16)
        nibbles[#nibbles + 1] = bytes[i] % 16
    end
    for i = 1, #nibbles, 3 do
        cells[#cells + 1] = {
            nibbles[i] * Frame.LEVEL_STEP,
            (nibbles[i + 1] or 0) * Frame.LEVEL_STEP,
            (nibbles[i + 2] or 0) * Frame.LEVEL_STEP,
        }
    end
    return cells
end
