-- Portunus barcode: draws frame cells as solid squares, one texture per cell,
-- sized and placed in physical screen pixels whatever the UI scale.
local _, ns = ...

local Barcode = {}
ns.Barcode = Barcode

--- The frame scale that makes one layout unit one physical pixel: the screen is 768
--- units high at effective scale 1, and the frame inherits UIParent's scale.
function Barcode.pixelScale()
    local _, physicalHeight = GetPhysicalScreenSize()
    return 768 / physicalHeight / UIParent:GetEffectiveScale()
end

function Barcode.create()
    local frame = CreateFrame("Frame", "PortunusBarcode", UIParent)
    frame:SetFrameStrata("TOOLTIP")
    frame:SetClampedToScreen(true)
    frame.textures = {}
    return frame
end

local function cellTexture(frame, index)
    local texture = frame.textures[index]
    if texture == nil then
        texture = frame:CreateTexture(nil, "OVERLAY")
        -- Exact pixels: no snapping or filtering may blend a cell with its neighbours.
        if texture.SetSnapToPixelGrid then texture:SetSnapToPixelGrid(false) end
        if texture.SetTexelSnappingBias then texture:SetTexelSnappingBias(0) end
        frame.textures[index] = texture
    end
    return texture
end

--- Draw `cells` ({r, g, b} levels 0..255) as squares of `cellSize` pixels at (x, y)
--- pixels from the screen's top-left corner.
function Barcode.draw(frame, cells, cellSize, x, y)
    frame:SetScale(Barcode.pixelScale())
    frame:ClearAllPoints()
    frame:SetPoint("TOPLEFT", UIParent, "TOPLEFT", x, -y)
    frame:SetSize(#cells * cellSize, cellSize)
    for i, color in ipairs(cells) do
        local texture = cellTexture(frame, i)
        texture:ClearAllPoints()
        texture:SetPoint("TOPLEFT", frame, "TOPLEFT", (i - 1) * cellSize, 0)
        texture:SetSize(cellSize, cellSize)
        texture:SetColorTexture(color[1] / 255, color[2] / 255, color[3] / 255, 1)
        texture:Show()
    end
    for i = #cells + 1, #frame.textures do frame.textures[i]:Hide() end
end
