-- Portunus frame encoder: GameSnapshot table -> frame bytes -> strip bytes -> cell colors.
-- Pure Lua 5.1 (no WoW API, no bit library), so the same code runs in every client
-- and under lupa in the tests. The format is docs/protocol.md (version 2); portunus/protocol/
-- frame.py and barcode.py are the reference decoder.
local _, ns = ...

local floor = math.floor
local Frame = {}
ns.Frame = Frame

Frame.MAGIC = { 0x50, 0x4E } -- "PN"
Frame.VERSION = 2
Frame.MAX_ENEMIES = 16
Frame.MAX_TABLE = 64

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

-- An ability's tri-state flags in one U16, two bits each, the first flag in the top bits:
-- 0 false, 1 true, 3 unknown (also the three unused slots).
local COOLDOWN_FLAGS = { "ready", "usable", "overlayed", "estimated", "assisted" }

local function putFlags(out, c)
    local raw = 0
    for slot = 1, 8 do
        local name = COOLDOWN_FLAGS[slot]
        local value = name and c[name]
        local bits = 3
        if value == true then bits = 1 elseif value == false then bits = 0 end
        raw = raw * 4 + bits
    end
    -- Written as raw bits: every flag unknown is 0xFFFF, which `put` would read as its
    -- "unknown" sentinel and clamp to 0xFFFE (an invalid last slot).
    if raw == 65535 then put(out, U16, nil) else put(out, U16, raw) end
end

local function capped(list, limit)
    local n = #list
    if n > limit then n = limit end
    return n
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
    put(out, U32, s.assistedSpellId)
    local n = capped(s.resources, Frame.MAX_TABLE)
    put(out, U8, n)
    for i = 1, n do
        put(out, U32, s.resources[i].current)
        put(out, U32, s.resources[i].maximum)
    end
    n = capped(s.cooldowns, Frame.MAX_TABLE)
    put(out, U8, n)
    for i = 1, n do
        local c = s.cooldowns[i]
        put(out, CENTISECONDS, c.remaining)
        put(out, U8, c.charges)
        put(out, U8, c.maxCharges)
        putFlags(out, c)
        put(out, CENTISECONDS, c.sinceCast)
        put(out, CENTISECONDS, c.duration)
    end
    n = capped(s.buffs, Frame.MAX_TABLE)
    put(out, U8, n)
    for i = 1, n do putAura(out, s.buffs[i]) end
    local enemies = s.enemies
    local count = #enemies
    if count > Frame.MAX_ENEMIES then count = Frame.MAX_ENEMIES end
    local numDebuffs = s.numDebuffs
    if numDebuffs > Frame.MAX_TABLE then numDebuffs = Frame.MAX_TABLE end
    put(out, U8, numDebuffs)
    put(out, U8, count)
    for i = 1, count do
        local e = enemies[i]
        put(out, U32, e.health)
        put(out, U32, e.maxHealth)
        put(out, PERCENT, percent(e.healthPct))
        putFlag(out, e.inRange)
        for d = 1, numDebuffs do putAura(out, e.debuffs[d]) end
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

local function nibbleXorByte(a, b)
    local high = NIBBLE_XOR[floor(a / 16) * 16 + floor(b / 16)]
    local low = NIBBLE_XOR[(a % 16) * 16 + (b % 16)]
    return high * 16 + low
end

-- Every WoW client ships the `bit` library (bit.bxor is about 10 times faster here); the
-- nibble tables are the fallback for a Lua without it (the tests' plain Lua 5.1).
local xorByte = nibbleXorByte
if type(bit) == "table" and type(bit.bxor) == "function" then xorByte = bit.bxor end
Frame.usesBitLibrary = xorByte ~= nibbleXorByte

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

-- Reed-Solomon over GF(2^8) (polynomial 0x11D, generator 2, first root 2^0), as Python's
-- reedsolo decodes it: the strip carries the 7 header bytes plus 8 parity bytes, then the
-- rest of the frame in blocks of at most 239 bytes, each plus 16 parity bytes.
Frame.HEADER_PARITY, Frame.PARITY, Frame.RS_BLOCK = 8, 16, 255

local GF_EXP, GF_LOG = {}, {}
do
    local x = 1
    for i = 0, 254 do
        GF_EXP[i], GF_LOG[x] = x, i
        x = x * 2
        if x >= 256 then x = xorByte(x - 256, 0x1D) end
    end
end

local function gfMul(a, b)
    if a == 0 or b == 0 then return 0 end
    return GF_EXP[(GF_LOG[a] + GF_LOG[b]) % 255]
end

local GENERATORS = {}
local function generator(parity) -- coefficients of prod (x - 2^i), i = 0 .. parity - 1, highest first
    if GENERATORS[parity] then return GENERATORS[parity] end
    local g = { 1 }
    for i = 0, parity - 1 do
        local root, next = GF_EXP[i], {}
        for j = 1, #g + 1 do
            local high = g[j] or 0
            local low = (j > 1) and gfMul(g[j - 1], root) or 0
            next[j] = xorByte(high, low)
        end
        g = next
    end
    GENERATORS[parity] = g
    return g
end

-- products[parity][j][c] = g_j * c in GF(2^8), for every generator coefficient: the encoder's
-- inner loop is then one table lookup and one XOR.
local PRODUCTS = {}
local function products(parity)
    if PRODUCTS[parity] then return PRODUCTS[parity] end
    local g, out = generator(parity), {}
    for j = 1, parity do
        local row = {}
        for c = 0, 255 do row[c] = gfMul(g[j + 1], c) end
        out[j] = row
    end
    PRODUCTS[parity] = out
    return out
end

--- The parity bytes of `data` (a list of bytes) for a code with `parity` of them.
function Frame.rsParity(data, parity)
    local times = products(parity)
    local remainder = {}
    for i = 1, parity do remainder[i] = 0 end
    for i = 1, #data do
        local coef = xorByte(data[i], remainder[1])
        for j = 1, parity - 1 do
            remainder[j] = xorByte(remainder[j + 1], times[j][coef])
        end
        remainder[parity] = times[parity][coef]
    end
    return remainder
end

local function append(out, list, first, last)
    for i = first, last do out[#out + 1] = list[i] end
end

--- The bytes the strip carries: the header and its parity, then blocks of the rest with theirs
--- (as few blocks as fit, sizes differing by at most one, the longer first).
function Frame.coded(frame)
    local out, header = {}, {}
    append(header, frame, 1, 7)
    append(out, header, 1, 7)
    append(out, Frame.rsParity(header, Frame.HEADER_PARITY), 1, Frame.HEADER_PARITY)
    local length = #frame - 7
    if length == 0 then return out end
    local blocks = math.ceil(length / (Frame.RS_BLOCK - Frame.PARITY))
    local base, extra = floor(length / blocks), length % blocks
    local at = 8
    for b = 1, blocks do
        local size = base + ((b <= extra) and 1 or 0)
        local block = {}
        append(block, frame, at, at + size - 1)
        append(out, block, 1, size)
        append(out, Frame.rsParity(block, Frame.PARITY), 1, Frame.PARITY)
        at = at + size
    end
    return out
end

Frame.SYNC = { 1, 0, 1, 0, 1, 0, 1, 0 } -- white, black, ...
Frame.LEVELS = { 0, 85, 170, 255 }       -- a 2-bit symbol s is drawn as LEVELS[s + 1]
Frame.CALIBRATION = { { 1, 2, 1 }, { 2, 1, 2 } } -- every level between black and white in every channel

--- Cell colors as levels 0..255: the sync cells, the calibration cells, then the strip bytes
--- as 2-bit symbols, high bits first, three per cell (R, G, B), the last cell padded with 0.
function Frame.cells(frame)
    local cells = {}
    for _, white in ipairs(Frame.SYNC) do
        local level = white * 255
        cells[#cells + 1] = { level, level, level }
    end
    for _, symbols in ipairs(Frame.CALIBRATION) do
        cells[#cells + 1] = { Frame.LEVELS[symbols[1] + 1], Frame.LEVELS[symbols[2] + 1], Frame.LEVELS[symbols[3] + 1] }
    end
    local symbols, n = {}, 0
    for _, byte in ipairs(Frame.coded(frame)) do
        symbols[n + 1] = floor(byte / 64)
        symbols[n + 2] = floor(byte / 16) % 4
        symbols[n + 3] = floor(byte / 4) % 4
        symbols[n + 4] = byte % 4
        n = n + 4
    end
    local levels = Frame.LEVELS
    for i = 1, n, 3 do
        cells[#cells + 1] = {
            levels[symbols[i] + 1], levels[(symbols[i + 1] or 0) + 1], levels[(symbols[i + 2] or 0) + 1],
        }
    end
    return cells
end
