(module
  (type (;0;) (func))
  (type (;1;) (func (param i32 i32) (result i32)))
  (memory (;0;) 1)
  (memory (;1;) 9 9)
  (global (;0;) (mut i64) i64.const 0)
  (global (;1;) (mut i64) i64.const 0)
  (global (;2;) (mut i32) i32.const 0)
  (global (;3;) (mut i32) i32.const 0)
  (global (;4;) (mut i32) i32.const 0)
  (global (;5;) (mut i32) i32.const 0)
  (export "entry" (func 0))
  (export "__ws_gas" (global 0))
  (export "__ws_gas_saved" (global 1))
  (export "__ws_state" (global 2))
  (export "__ws_uw_ptr" (global 3))
  (export "__ws_depth" (global 4))
  (export "__ws_wrote" (global 5))
  (export "__ws_unwind" (memory 1))
  (export "__ws_restore_drops" (func $__ws_restore_drops))
  (export "__ws_mem" (memory 0))
  (func (;0;) (type 1) (param i32 i32) (result i32)
    (local i32 i32 i32 i32 i64)
    block (result i32) ;; label = @1
      block (result i32) ;; label = @2
        block (result i32) ;; label = @3
          block (result i32) ;; label = @4
            block (result i32) ;; label = @5
              block (result i32) ;; label = @6
                block ;; label = @7
                  global.get 0
                  i64.const 2
                  i64.sub
                  local.tee 6
                  i64.const 4611686018427387904
                  i64.ge_u
                  if ;; label = @8
                    global.get 2
                    if ;; label = @9
                      global.get 3
                      i32.const 40
                      i32.sub
                      local.tee 5
                      global.set 3
                      local.get 5
                      i32.load 1
                      i32.const 0
                      i32.ne
                      if ;; label = @10
                        call $__ws_trap_corrupt_unwind
                        unreachable
                      else
                      end
                      local.get 5
                      i32.load 1 offset=4
                      local.tee 4
                      i32.const 1
                      i32.sub
                      i32.const 2
                      i32.ge_u
                      if ;; label = @10
                        call $__ws_trap_corrupt_unwind
                        unreachable
                      else
                      end
                      local.get 5
                      i32.load 1 offset=8
                      local.set 0
                      local.get 5
                      i32.load 1 offset=16
                      local.set 1
                      local.get 5
                      i32.load 1 offset=24
                      local.set 2
                      local.get 5
                      i32.load 1 offset=32
                      local.set 3
                      local.get 4
                      i32.const 1
                      i32.eq
                      if ;; label = @10
                        i32.const 0
                        global.set 2
                        global.get 1
                        local.set 6
                        i32.const 0
                        local.set 4
                      else
                      end
                    else
                      i32.const 1
                      global.set 2
                      i32.const 1
                      br 8 (;@1;)
                    end
                  else
                    br 1 (;@7;)
                  end
                  block ;; label = @8
                    local.get 4
                    if ;; label = @9
                      local.get 4
                      i32.const 2
                      i32.ne
                      br_if 1 (;@8;)
                    else
                    end
                    block ;; label = @9
                      block ;; label = @10
                        local.get 4
                        if ;; label = @11
                          local.get 4
                          i32.const 2
                          i32.ne
                          br_if 1 (;@10;)
                          local.get 4
                          i32.const 2
                          i32.eq
                          if ;; label = @12
                            i32.const 0
                            global.set 2
                            global.get 1
                            i64.const 9
                            i64.add
                            local.set 6
                            i32.const 0
                            local.set 4
                          else
                          end
                        else
                        end
                        loop ;; label = @11
                          local.get 6
                          i64.const 9
                          i64.lt_s
                          local.get 6
                          i64.const 9
                          i64.sub
                          local.set 6
                          if ;; label = @12
                            local.get 0
                            local.tee 2
                            local.set 3
                            i32.const 1
                            global.set 2
                            i32.const 2
                            br 11 (;@1;)
                          else
                          end
                          local.get 6
                          i64.const 12
                          i64.sub
                          local.set 6
                          local.get 0
                          i32.load8_u
                          local.set 2
                          local.get 1
                          i32.load8_u
                          local.set 3
                          local.get 2
                          i32.eqz
                          if ;; label = @12
                            local.get 6
                            i64.const 12
                            i64.add
                            local.set 6
                            br 3 (;@9;)
                          else
                          end
                          local.get 0
                          i32.const 1
                          i32.add
                          local.set 0
                          local.get 1
                          i32.const 1
                          i32.add
                          local.set 1
                          local.get 2
                          local.get 3
                          i32.eq
                          br_if 0 (;@11;)
                        end
                      end
                    end
                  end
                  local.get 6
                  i64.const 3
                  i64.sub
                  local.set 6
                  local.get 2
                  local.get 3
                  i32.sub
                  br 1 (;@6;)
                end
                block ;; label = @7
                  block ;; label = @8
                    block ;; label = @9
                      loop ;; label = @10
                        local.get 6
                        i64.const 9
                        i64.lt_s
                        local.get 6
                        i64.const 9
                        i64.sub
                        local.set 6
                        if ;; label = @11
                          local.get 0
                          local.tee 2
                          local.set 3
                          i32.const 1
                          global.set 2
                          i32.const 2
                          br 9 (;@2;)
                        else
                        end
                        local.get 6
                        i64.const 12
                        i64.sub
                        local.set 6
                        local.get 0
                        i32.load8_u
                        local.set 2
                        local.get 1
                        i32.load8_u
                        local.set 3
                        local.get 2
                        i32.eqz
                        if ;; label = @11
                          local.get 6
                          i64.const 12
                          i64.add
                          local.set 6
                          br 3 (;@8;)
                        else
                        end
                        local.get 0
                        i32.const 1
                        i32.add
                        local.set 0
                        local.get 1
                        i32.const 1
                        i32.add
                        local.set 1
                        local.get 2
                        local.get 3
                        i32.eq
                        br_if 0 (;@10;)
                      end
                    end
                  end
                end
                local.get 6
                i64.const 3
                i64.sub
                local.set 6
                local.get 2
                local.get 3
                i32.sub
              end
            end
            local.get 6
            global.set 0
            return
          end
          global.get 2
          i32.const 0
          i32.ne
          i32.add
          i32.const 1
          global.set 2
          br 2 (;@1;)
        end
        global.get 2
        i32.const 0
        i32.ne
        i32.add
        i32.const 1
        global.set 2
      end
      local.get 6
      global.set 0
      local.set 4
      global.get 3
      local.set 5
      local.get 5
      i32.const 0
      i32.store 1
      local.get 5
      local.get 4
      i32.store 1 offset=4
      local.get 5
      local.get 0
      i64.extend_i32_u
      i64.store 1 offset=8
      local.get 5
      local.get 1
      i64.extend_i32_u
      i64.store 1 offset=16
      local.get 5
      local.get 2
      i64.extend_i32_u
      i64.store 1 offset=24
      local.get 5
      local.get 3
      i64.extend_i32_u
      i64.store 1 offset=32
      local.get 5
      i32.const 40
      i32.add
      global.set 3
      i32.const 0
      return
    end
    local.get 6
    global.set 0
    local.set 4
    global.get 3
    local.set 5
    local.get 5
    i32.const 0
    i32.store 1
    local.get 5
    local.get 4
    i32.store 1 offset=4
    local.get 5
    local.get 0
    i64.extend_i32_u
    i64.store 1 offset=8
    local.get 5
    local.get 1
    i64.extend_i32_u
    i64.store 1 offset=16
    local.get 5
    local.get 2
    i64.extend_i32_u
    i64.store 1 offset=24
    local.get 5
    local.get 3
    i64.extend_i32_u
    i64.store 1 offset=32
    local.get 5
    i32.const 40
    i32.add
    global.set 3
    i32.const 0
  )
  (func $__ws_trap_call_depth (;1;) (type 0)
    unreachable
  )
  (func $__ws_trap_corrupt_unwind (;2;) (type 0)
    unreachable
  )
  (func $__ws_restore_drops (;3;) (type 0))
)
