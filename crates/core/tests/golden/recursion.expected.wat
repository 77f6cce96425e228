(module
  (type (;0;) (func))
  (type (;1;) (func (result i32)))
  (type (;2;) (func (param i32) (result i32)))
  (memory (;0;) 9 9)
  (global (;0;) (mut i64) i64.const 0)
  (global (;1;) (mut i64) i64.const 0)
  (global (;2;) (mut i32) i32.const 0)
  (global (;3;) (mut i32) i32.const 0)
  (global (;4;) (mut i32) i32.const 0)
  (global (;5;) (mut i32) i32.const 0)
  (export "entry" (func 1))
  (export "__ws_gas" (global 0))
  (export "__ws_gas_saved" (global 1))
  (export "__ws_state" (global 2))
  (export "__ws_uw_ptr" (global 3))
  (export "__ws_depth" (global 4))
  (export "__ws_wrote" (global 5))
  (export "__ws_unwind" (memory 0))
  (export "__ws_restore_drops" (func $__ws_restore_drops))
  (func $fib (;0;) (type 2) (param i32) (result i32)
    (local i32 i32 i32 i32 i32 i32 i32 i32 i64)
    block (result i32) ;; label = @1
      block (result i32) ;; label = @2
        block (result i32) ;; label = @3
          block (result i32) ;; label = @4
            block (result i32) ;; label = @5
              global.get 4
              i32.const 144
              i32.add
              local.tee 3
              global.set 4
              local.get 3
              i32.const 524288
              i32.gt_u
              if ;; label = @6
                call $__ws_trap_call_depth
                unreachable
              else
              end
              block (result i32) ;; label = @6
                block ;; label = @7
                  global.get 0
                  i64.const 4
                  i64.sub
                  local.tee 9
                  i64.const 4611686018427387904
                  i64.ge_u
                  if ;; label = @8
                    global.get 2
                    if ;; label = @9
                      global.get 3
                      i32.const 40
                      i32.sub
                      local.tee 8
                      global.set 3
                      local.get 8
                      i32.load
                      i32.const 0
                      i32.ne
                      if ;; label = @10
                        call $__ws_trap_corrupt_unwind
                        unreachable
                      else
                      end
                      local.get 8
                      i32.load offset=4
                      local.tee 2
                      i32.const 1
                      i32.sub
                      i32.const 4
                      i32.ge_u
                      if ;; label = @10
                        call $__ws_trap_corrupt_unwind
                        unreachable
                      else
                      end
                      local.get 8
                      i32.load offset=8
                      local.set 0
                      local.get 8
                      i32.load offset=16
                      local.set 6
                      local.get 8
                      i32.load offset=24
                      local.set 7
                      local.get 8
                      i32.load offset=32
                      local.set 1
                      local.get 2
                      i32.const 1
                      i32.eq
                      if ;; label = @10
                        i32.const 0
                        global.set 2
                        global.get 1
                        local.set 9
                        i32.const 0
                        local.set 2
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
                  local.get 2
                  i32.eqz
                  if ;; label = @8
                    local.get 0
                    i32.const 2
                    i32.ge_u
                    local.set 4
                  else
                  end
                  block ;; label = @8
                    local.get 2
                    if ;; label = @9
                      local.get 2
                      i32.const 2
                      i32.sub
                      i32.const 2
                      i32.gt_u
                      br_if 1 (;@8;)
                    else
                    end
                    local.get 4
                    local.get 2
                    i32.const 2
                    i32.sub
                    i32.const 2
                    i32.le_u
                    local.get 2
                    i32.eqz
                    select
                    if ;; label = @9
                      local.get 9
                      i64.const 1
                      i64.sub
                      local.set 9
                      block ;; label = @10
                        local.get 2
                        if ;; label = @11
                          local.get 2
                          i32.const 2
                          i32.sub
                          i32.const 2
                          i32.gt_u
                          br_if 1 (;@10;)
                          local.get 2
                          i32.const 2
                          i32.eq
                          if ;; label = @12
                            i32.const 0
                            global.set 2
                            global.get 1
                            i64.const 15
                            i64.add
                            local.set 9
                            i32.const 0
                            local.set 2
                          else
                          end
                        else
                        end
                        loop ;; label = @11
                          local.get 9
                          i64.const 15
                          i64.lt_s
                          local.get 9
                          i64.const 15
                          i64.sub
                          local.set 9
                          if ;; label = @12
                            local.get 0
                            local.tee 6
                            local.set 7
                            i32.const 1
                            global.set 2
                            i32.const 2
                            br 11 (;@1;)
                          else
                          end
                          local.get 2
                          if ;; label = @12
                            local.get 2
                            i32.eqz
                            if ;; label = @13
                              local.get 1
                              local.get 0
                              i32.const 1
                              i32.sub
                              local.set 5
                              local.set 6
                            else
                            end
                            block ;; label = @13
                              local.get 2
                              if ;; label = @14
                                local.get 2
                                i32.const 3
                                i32.sub
                                i32.const 1
                                i32.gt_u
                                br_if 1 (;@13;)
                                local.get 2
                                i32.const 3
                                i32.eq
                                if ;; label = @15
                                  i32.const 0
                                  global.set 2
                                  global.get 1
                                  local.set 9
                                  i32.const 0
                                  local.set 2
                                  br 2 (;@13;)
                                else
                                end
                              else
                              end
                              i32.const 0
                              local.set 2
                              local.get 9
                              global.set 0
                              local.get 5
                              call $fib
                              local.set 7
                              global.get 0
                              local.tee 9
                              i64.const 0
                              i64.lt_s
                              if ;; label = @14
                                local.get 0
                                local.set 1
                                i32.const 3
                                br 10 (;@4;)
                              else
                              end
                            end
                            local.get 6
                            local.get 7
                            i32.add
                            local.set 1
                            local.get 0
                            i32.const 2
                            i32.sub
                            local.set 0
                            local.get 0
                            i32.const 1
                            i32.gt_u
                            br_if 1 (;@11;)
                          else
                            block ;; label = @13
                              local.get 1
                              local.get 0
                              i32.const 1
                              i32.sub
                              local.set 5
                              local.set 6
                            end
                            block ;; label = @13
                              local.get 9
                              global.set 0
                              local.get 5
                              call $fib
                              local.set 7
                              global.get 0
                              local.tee 9
                              i64.const 0
                              i64.lt_s
                              if ;; label = @14
                                local.get 0
                                local.set 1
                                i32.const 3
                                br 10 (;@4;)
                              else
                              end
                            end
                            local.get 6
                            local.get 7
                            i32.add
                            local.set 1
                            local.get 0
                            i32.const 2
                            i32.sub
                            local.set 0
                            local.get 0
                            i32.const 1
                            i32.gt_u
                            br_if 1 (;@11;)
                          end
                        end
                      end
                    else
                    end
                  end
                  local.get 9
                  i64.const 3
                  i64.sub
                  local.set 9
                  local.get 0
                  local.get 1
                  i32.add
                  br 1 (;@6;)
                end
                block ;; label = @7
                  local.get 0
                  i32.const 2
                  i32.ge_u
                  local.set 4
                end
                block ;; label = @7
                  local.get 4
                  if ;; label = @8
                    local.get 9
                    i64.const 1
                    i64.sub
                    local.set 9
                    block ;; label = @9
                      loop ;; label = @10
                        local.get 9
                        i64.const 15
                        i64.lt_s
                        local.get 9
                        i64.const 15
                        i64.sub
                        local.set 9
                        if ;; label = @11
                          local.get 0
                          local.tee 6
                          local.set 7
                          i32.const 1
                          global.set 2
                          i32.const 2
                          br 9 (;@2;)
                        else
                        end
                        block ;; label = @11
                          block ;; label = @12
                            local.get 1
                            local.get 0
                            i32.const 1
                            i32.sub
                            local.set 5
                            local.set 6
                          end
                          block ;; label = @12
                            local.get 9
                            global.set 0
                            local.get 5
                            call $fib
                            local.set 7
                            global.get 0
                            local.tee 9
                            i64.const 0
                            i64.lt_s
                            if ;; label = @13
                              local.get 0
                              local.set 1
                              i32.const 3
                              br 10 (;@3;)
                            else
                            end
                          end
                          local.get 6
                          local.get 7
                          i32.add
                          local.set 1
                          local.get 0
                          i32.const 2
                          i32.sub
                          local.set 0
                          local.get 0
                          i32.const 1
                          i32.gt_u
                          br_if 1 (;@10;)
                        end
                      end
                    end
                  else
                  end
                end
                local.get 9
                i64.const 3
                i64.sub
                local.set 9
                local.get 0
                local.get 1
                i32.add
              end
            end
            local.get 9
            global.set 0
            global.get 4
            i32.const 144
            i32.sub
            global.set 4
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
      local.get 9
      global.set 0
      local.set 2
      global.get 3
      local.set 8
      local.get 8
      i32.const 0
      i32.store
      local.get 8
      local.get 2
      i32.store offset=4
      local.get 8
      local.get 0
      i64.extend_i32_u
      i64.store offset=8
      local.get 8
      local.get 6
      i64.extend_i32_u
      i64.store offset=16
      local.get 8
      local.get 7
      i64.extend_i32_u
      i64.store offset=24
      local.get 8
      local.get 1
      i64.extend_i32_u
      i64.store offset=32
      local.get 8
      i32.const 40
      i32.add
      global.set 3
      i32.const 0
      return
    end
    local.get 9
    global.set 0
    local.set 2
    global.get 3
    local.set 8
    local.get 8
    i32.const 0
    i32.store
    local.get 8
    local.get 2
    i32.store offset=4
    local.get 8
    local.get 0
    i64.extend_i32_u
    i64.store offset=8
    local.get 8
    local.get 6
    i64.extend_i32_u
    i64.store offset=16
    local.get 8
    local.get 7
    i64.extend_i32_u
    i64.store offset=24
    local.get 8
    local.get 1
    i64.extend_i32_u
    i64.store offset=32
    local.get 8
    i32.const 40
    i32.add
    global.set 3
    i32.const 0
  )
  (func (;1;) (type 1) (result i32)
    (local i32 i32 i32 i32 i32 i64)
    block (result i32) ;; label = @1
      block (result i32) ;; label = @2
        block (result i32) ;; label = @3
          global.get 4
          i32.const 96
          i32.add
          local.tee 1
          global.set 4
          local.get 1
          i32.const 524288
          i32.gt_u
          if ;; label = @4
            call $__ws_trap_call_depth
            unreachable
          else
          end
          block (result i32) ;; label = @4
            block ;; label = @5
              global.get 0
              i64.const 2
              i64.sub
              local.tee 5
              i64.const 4611686018427387904
              i64.ge_u
              if ;; label = @6
                global.get 2
                if ;; label = @7
                  global.get 3
                  i32.const 16
                  i32.sub
                  local.tee 4
                  global.set 3
                  local.get 4
                  i32.load
                  i32.const 1
                  i32.ne
                  if ;; label = @8
                    call $__ws_trap_corrupt_unwind
                    unreachable
                  else
                  end
                  local.get 4
                  i32.load offset=4
                  local.tee 0
                  i32.const 1
                  i32.sub
                  i32.const 3
                  i32.ge_u
                  if ;; label = @8
                    call $__ws_trap_corrupt_unwind
                    unreachable
                  else
                  end
                  local.get 4
                  i32.load offset=8
                  local.set 3
                  local.get 0
                  i32.const 1
                  i32.eq
                  if ;; label = @8
                    i32.const 0
                    global.set 2
                    global.get 1
                    local.set 5
                    i32.const 0
                    local.set 0
                  else
                  end
                else
                  i32.const 1
                  global.set 2
                  i32.const 1
                  br 6 (;@1;)
                end
              else
                br 1 (;@5;)
              end
              local.get 0
              i32.eqz
              if ;; label = @6
                i32.const 20
                local.set 2
              else
              end
              block ;; label = @6
                local.get 0
                if ;; label = @7
                  local.get 0
                  i32.const 2
                  i32.sub
                  i32.const 1
                  i32.gt_u
                  br_if 1 (;@6;)
                  local.get 0
                  i32.const 2
                  i32.eq
                  if ;; label = @8
                    i32.const 0
                    global.set 2
                    global.get 1
                    local.set 5
                    i32.const 0
                    local.set 0
                    br 2 (;@6;)
                  else
                  end
                else
                end
                i32.const 0
                local.set 0
                local.get 5
                global.set 0
                local.get 2
                call $fib
                local.set 3
                global.get 0
                local.tee 5
                i64.const 0
                i64.lt_s
                if ;; label = @7
                  i32.const 2
                  br 5 (;@2;)
                else
                end
              end
              local.get 3
              br 1 (;@4;)
            end
            block ;; label = @5
              i32.const 20
              local.set 2
            end
            block ;; label = @5
              local.get 5
              global.set 0
              local.get 2
              call $fib
              local.set 3
              global.get 0
              local.tee 5
              i64.const 0
              i64.lt_s
              if ;; label = @6
                i32.const 2
                br 4 (;@2;)
              else
              end
            end
            local.get 3
          end
        end
        local.get 5
        global.set 0
        global.get 4
        i32.const 96
        i32.sub
        global.set 4
        return
      end
      global.get 2
      i32.const 0
      i32.ne
      i32.add
      i32.const 1
      global.set 2
    end
    local.get 5
    global.set 0
    local.set 0
    global.get 3
    local.set 4
    local.get 4
    i32.const 1
    i32.store
    local.get 4
    local.get 0
    i32.store offset=4
    local.get 4
    local.get 3
    i64.extend_i32_u
    i64.store offset=8
    local.get 4
    i32.const 16
    i32.add
    global.set 3
    i32.const 0
  )
  (func $__ws_trap_call_depth (;2;) (type 0)
    unreachable
  )
  (func $__ws_trap_corrupt_unwind (;3;) (type 0)
    unreachable
  )
  (func $__ws_restore_drops (;4;) (type 0))
)
