-- luacheck settings for the WoW addon (addon/Portunus): Lua 5.1 plus the client's API.
std = "lua51"
max_line_length = 120
exclude_files = { ".venv/**" }
-- Globals the addon defines for the client: SavedVariables and the slash command.
globals = { "PortunusDB", "SLASH_PORTUNUS1", "SlashCmdList" }
-- The WoW API the addon reads (present or not, depending on the client).
read_globals = {
    "C_AssistedCombat", "C_ChallengeMode", "C_NamePlate", "C_ScenarioInfo", "C_Secrets", "C_SpecializationInfo",
    "C_Spell", "C_SpellActivationOverlay", "C_UnitAuras", "CreateFrame", "GetPhysicalScreenSize",
    "GetInventoryItemCooldown", "GetSpecialization", "GetSpecializationInfo", "GetSpellBaseCooldown", "GetSpellCharges", "GetSpellCooldown",
    "GetSpellInfo", "GetTime", "GetWorldElapsedTime", "IsSpellInRange", "IsSpellOverlayed", "IsUsableSpell",
    "UIParent", "UnitAffectingCombat", "UnitAura", "UnitCanAttack", "UnitCastingInfo", "UnitChannelInfo",
    "UnitExists", "UnitHealth", "UnitHealthMax", "UnitIsDeadOrGhost", "UnitIsUnit", "UnitPower", "UnitPowerMax",
    "bit", "canaccessvalue", "issecretvalue",
    "WOW_PROJECT_ID", "WOW_PROJECT_MAINLINE", "WOW_PROJECT_MISTS_CLASSIC",
}
